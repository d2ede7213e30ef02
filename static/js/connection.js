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
    // hx-sse retries a stream that was once open; one refused at its first connection (503: the
    // server holds as many streams as it can) is asked again after the server's Retry-After
    // (spread over another Retry-After: pages refused together do not all come back at once)
    stream.addEventListener("htmx:response:error", (evt) => {
      const response = evt.detail?.ctx?.response;
      if (response?.status !== 503) {
        setConn("closed", "disconnected — reload");
        return;
      }
      const wait = Number(response.headers?.get("Retry-After")) || 2;
      setConn("reconnecting", "reconnecting…");
      setTimeout(() => htmx.trigger(stream, "stream-retry"), wait * (1 + Math.random()) * 1000);
    });
  }
  window.addEventListener("offline", () => setConn("reconnecting", "reconnecting…"));
}
