// Starts the API reference pages served by app/routes/docs.py. A file of its own, not FastAPI's
// inline <script>, so both pages run under a Content-Security-Policy whose script-src is 'self'.
//
// /docs (templates/docs.html): starts Swagger UI on #swagger-ui (this script comes after the
// bundle). /redoc (templates/redoc.html): ReDoc starts itself from its <redoc spec-url> element;
// this script comes before the bundle and keeps ReDoc's one remote asset from being requested.
(() => {
  "use strict";

  const swagger = document.getElementById("swagger-ui");
  if (swagger) {
    window.ui = SwaggerUIBundle({
      url: swagger.dataset.openapiUrl || "/openapi.json",
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis],
      deepLinking: true,
      showExtensions: true,
      showCommonExtensions: true,
      validatorUrl: null, // the validator badge is an image from another host
    });
  }

  if (document.querySelector("redoc")) {
    // ReDoc 2's side menu always shows a Redocly logo from its CDN (the image is not in the npm
    // package, and no option turns it off). No request may leave the machine, so an <img> whose
    // src points there gets an empty src instead: it fails at once, with no request, and ReDoc's
    // own onError handler removes it, as it does offline. Other images are left alone.
    const REMOTE = "https://cdn.redoc.ly/";
    const local = (value) => (String(value).startsWith(REMOTE) ? "" : value);
    const img = HTMLImageElement.prototype;
    const setAttribute = Element.prototype.setAttribute;
    img.setAttribute = function (name, value) {
      const isSrc = String(name).toLowerCase() === "src";
      return setAttribute.call(this, name, isSrc ? local(value) : value);
    };
    const src = Object.getOwnPropertyDescriptor(img, "src");
    Object.defineProperty(img, "src", {
      ...src,
      set(value) {
        src.set.call(this, local(value));
      },
    });
  }
})();
