// Which step the page shows (static/js/timeline.js keeps both): the step asked for, in
// #view-step (empty: live), which every fragment request includes, and the step whose panels
// are on screen, in html[data-view] (absent: live).

export function wantedStep() {
  const v = document.getElementById("view-step")?.value ?? "";
  return v === "" ? null : Number(v);
}

export function shownStep() {
  const v = document.documentElement.dataset.view;
  return v === undefined ? null : Number(v);
}
