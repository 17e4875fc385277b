/* Kefu widget loader. The one script a customer pastes into their site:
 *   <script src="https://HOST/static/kefu/widget.js" data-key="PUBLIC_WIDGET_KEY" async></script>
 * It stays tiny on purpose: it keeps the `kefu(...)` call queue, makes a closed shadow
 * root and lazy-loads the app bundle when the page is idle (or at once on kefu('open')).
 * The only global it defines is `kefu`. Hand-written ES5: it runs on every customer page. */
(function (w, d) {
  "use strict";
  var me = d.currentScript || d.querySelector("script[data-key][src*='kefu/widget.js']");
  var stub = w.kefu;
  // A second copy of this script (two embed tags, a tag manager) must not make a second widget.
  if (!me || (stub && stub.v)) return;
  var q = (stub && stub.q) || [];
  var src = me.src;
  var base = src.slice(0, src.indexOf("/static/kefu/widget.js"));
  // The app, one bundle built from static/kefu/widget/src (see esbuild.config.mjs).
  var files = ["build/widget.js"];
  var loading = 0;
  var host;
  var root;

  function api() {
    if (api.h) return api.h.apply(null, arguments); // the app, once it runs
    q.push(arguments);
    if (!loading && arguments[0] === "open") load();
  }
  api.q = q;
  api.v = 1;
  // Private hand-over: the bundle calls this once with its start function and receives
  // the closed root. Not enumerable, and gone once used.
  Object.defineProperty(api, "_d", {
    configurable: true,
    value: function (start) {
      delete api._d;
      start(root, {base: base, key: me.getAttribute("data-key"), locale: me.getAttribute("data-locale"),
        q: q, api: api});
    }
  });
  w.kefu = api;

  host = d.createElement("div");
  host.setAttribute("data-kefu", "");
  host.style.cssText = "all:initial;position:fixed;z-index:2147483000;bottom:0;right:0;width:0;height:0";
  root = host.attachShadow({mode: "closed"});

  function load() {
    if (loading) return;
    loading = 1;
    (d.body || d.documentElement).appendChild(host);
    for (var i = 0; i < files.length; i++) {
      var s = d.createElement("script");
      s.src = base + "/static/kefu/" + files[i];
      s.async = false;
      s.charset = "utf-8";
      d.head.appendChild(s);
    }
  }

  for (var i = 0; i < q.length; i++) if (q[i][0] === "open") load();
  function idle() {
    (w.requestIdleCallback || function (f) { setTimeout(f, 200); })(load, {timeout: 2000});
  }
  if (d.readyState === "complete") idle();
  else w.addEventListener("load", idle);
})(window, document);
