// "All runs" (#runs, templates/index.html): htmx asks for the list every 2 s and when the menu
// opens; here the 2-second asks are dropped while the menu is closed, so a page left open does
// not have the server render, and itself take in, every run's row for no one to see.

export function startRunList() {
  const runs = document.getElementById("runs");
  if (!runs) return;
  runs.addEventListener("htmx:before:request", (evt) => {
    if (evt.target === runs && !runs.closest("details").open) evt.preventDefault();
  });
}
