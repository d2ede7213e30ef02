// The projector follows the teacher's spotlight: an element with data-follow (the class code)
// and data-spotlight (the run it shows: the projector's run page, or its waiting screen)
// checks GET /api/classes/{code}/spotlight every 3 s; a new run, a new page.

import { getJSON } from "./api.js";

export function followSpotlight() {
  const follow = document.querySelector("[data-follow]");
  if (!follow) return;
  const code = encodeURIComponent(follow.dataset.follow);
  const shown = follow.dataset.spotlight || "";
  const check = async () => {
    try {
      const body = await getJSON(`/api/classes/${code}/spotlight`);
      if (body && String(body.run ?? "") !== shown) {
        window.location.assign(`/class/${code}/projector`);
        return;
      }
    } catch (e) {
      // offline for a moment
    }
    setTimeout(check, 3000);
  };
  setTimeout(check, 3000);
}
