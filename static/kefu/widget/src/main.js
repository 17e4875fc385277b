// Entry of the widget bundle (static/kefu/build/widget.js, built by `npm run build`).
// The loader (static/kefu/widget.js) fetches the bundle, which hands itself over through
// the loader's one-shot private hook and receives the closed shadow root.

import { startWidget } from "./app.js";

window.kefu._d((root, boot) => startWidget(root, boot));
