"""The page's stream (until it joins app.web); every other route is in app.web.routes."""
