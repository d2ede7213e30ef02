// The "live / reconnecting…" indicator (#conn), from hx-sse's events on #stream.

export function startConnection() {
  const conn = document.getElementById("conn");
  const stream = document.getElementById("stream");
  const setConn = (state, text) => {
    if (!conn) return;
    conn.dataset.conn = state;
    conn.textContent = text;
  };
  if (stream) {
    stream.addEventListener("htmx:sse:after:connection", () => setConn("live", "● live"));
    stream.addEventListener("htmx:sse:before:connection", (evt) => {
      if (evt.detail?.connection?.attempt > 0) setConn("reconnecting", "reconnecting…");
    });
    stream.addEventListener("htmx:sse:error", () => setConn("reconnecting", "reconnecting…"));
    stream.addEventListener("htmx:sse:close", () => setConn("closed", "disconnected — reload"));
  }
  window.addEventListener("offline", () => setConn("reconnecting", "reconnecting…"));
}
