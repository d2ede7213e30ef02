// The run the page shows and how its modules ask the server. Every request of a run's page goes
// to that run's own /api/runs/{id} (templates/base.html's data-api); a forked run's page also
// names its parent's (data-parent-api) and the step it was forked at.

export const API = document.body.dataset.api || "/api";
export const PARENT_API = document.body.dataset.parentApi || null;
export const PARENT_STEP = Number(document.body.dataset.parentStep);

// {ok, status, headers, body}: body is the parsed JSON, or null when there is none. A network
// failure (offline, aborted) throws, as fetch does.
export async function fetchJSON(url, init = {}) {
  const resp = await fetch(url, { ...init, headers: { Accept: "application/json" } });
  const body = await resp.json().catch(() => null);
  return { ok: resp.ok, status: resp.status, headers: resp.headers, body };
}

// The JSON of a successful answer, else null.
export async function getJSON(url) {
  const { ok, body } = await fetchJSON(url);
  return ok ? body : null;
}
