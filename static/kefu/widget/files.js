/* Kefu widget: attachments (signed links, blobs, zoom) and uploads with progress.
 * Loaded by widget.js between lib.js and app.js; app.js passes in what it shares. */
(function () {
  "use strict";
  window.kefu._d("files", function (env) {
    const h = env.h;
    const L = env.L;
    const W = window;
    const base = env.base;
    const root = env.root;
    const S = env.S;
    const ui = env.ui;
    const t = env.t;
    const uuid = env.uuid;
    const enqueue = env.enqueue;
    const scrollDown = env.scrollDown;

    function fileLink(a, m) {
      return h("a", {class: "fl", href: "#", onclick: (e) => {
        e.preventDefault();
        attachmentUrl(a, m).then((u) => {
          // `download` only works for same-origin (blob) URLs; a signed link opens in a tab.
          if (!/^blob:/.test(u)) { W.open(u, "_blank", "noopener"); return; }
          const dl = h("a", {href: u, download: a.name || "file"});
          root.appendChild(dl); dl.click(); dl.remove();
        });
      }}, [L.icon("file", 22), h("span", {text: (a.name || t("file")) + (a.size ? " · " + fmtSize(a.size) : "")})]);
    }
    const fmtSize = (n) => n > 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB";

    const blobs = {};
    const signed = (u) => !!u && /[?&]s=/.test(u) && /^\/[^/]/.test(u);
    function attachmentUrl(a, m) {
      const id = a.id;
      // The server signs a per-visitor link (?s=...), usable as a plain src. Without one
      // (a replayed message), ask the history endpoint, which signs; as a last resort
      // fetch with the token in a header (never in a URL) and use a blob.
      if (!blobs[id] && signed(a.url)) blobs[id] = Promise.resolve(base + a.url);
      if (!blobs[id]) {
        const auth = {headers: {Authorization: "Bearer " + S.token}};
        const viaHistory = m && m.seq ? fetch(base + "/widget/api/messages?limit=1&conversation_id=" + m.conversation_id
          + "&after_seq=" + (m.seq - 1), auth).then((r) => r.json()).then((d) => {
          const hit = (d.messages || []).filter((x) => x.attachment && x.attachment.id === id)[0];
          if (!hit || !signed(hit.attachment.url)) throw new Error("unsigned");
          return base + hit.attachment.url;
        }) : Promise.reject(new Error("no message"));
        blobs[id] = viaHistory.catch(() => fetch(base + "/widget/api/attachments/" + id, auth)
          .then((r) => { if (!r.ok) throw new Error(r.status); return r.blob(); })
          .then((b) => URL.createObjectURL(b)));
        blobs[id].catch(() => { delete blobs[id]; });
      }
      return blobs[id];
    }

    function zoom(src) {
      if (!src) return;
      const z = h("div", {class: "zoom", onclick: () => z.remove()}, h("img", {src: src, alt: ""}));
      ui.k.appendChild(z);
    }

    // --- uploads: XMLHttpRequest for progress --------------------------------------------
    function onPaste(e) {
      const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
      if (files.length) { e.preventDefault(); files.forEach(upload); }
    }

    function upload(file) {
      const kind = /^image\//.test(file.type) ? "image" : /^audio\//.test(file.type) ? "audio" : "file";
      const id = uuid();
      const preview = kind === "image" ? URL.createObjectURL(file) : null;
      const bar = h("i");
      const bubble = h("div", {class: "b"}, [
        preview ? h("img", {src: preview, alt: file.name}) : h("div", {class: "fl"}, [L.icon("file", 22),
          h("span", {text: file.name + " · " + fmtSize(file.size)})]),
        h("div", {class: "prog"}, bar)]);
      const st = h("div", {class: "st", text: t("sending")});
      const row = h("div", {class: "row me"}, h("div", {class: "col"}, [bubble, st]));
      row._st = st;
      S.pend[id] = {row: row, item: {client_msg_id: id, kind: kind, body: ""}};
      ui.tail.appendChild(row);
      scrollDown();
      const max = (S.settings.max_upload_mb || 20) * 1048576;
      const failUpload = (why) => { st.textContent = why; st.classList.add("err"); bar.parentNode.hidden = true; };
      if (file.size > max) return failUpload(t("tooBig"));
      const xhr = new XMLHttpRequest();
      xhr.open("POST", base + "/widget/api/upload");
      xhr.setRequestHeader("Authorization", "Bearer " + S.token);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.style.width = Math.round(100 * e.loaded / e.total) + "%"; };
      xhr.onload = () => {
        let a = null;
        try { a = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        a = a && (a.attachment || a);
        if (xhr.status >= 300 || !a || !a.id) return failUpload(t("uploadFailed"));
        bar.style.width = "100%";
        const ct = a.content_type || file.type;
        const k = /^image\//.test(ct) ? "image" : /^audio\//.test(ct) ? "audio" : "file";
        blobs[a.id] = Promise.resolve(preview || URL.createObjectURL(file));
        enqueue({client_msg_id: id, kind: k, body: "", attachment_id: a.id,
          attachment: {id: a.id, name: a.name || file.name, size: a.size || file.size, content_type: ct, url: a.url}}, row);
      };
      xhr.onerror = () => failUpload(t("uploadFailed"));
      const fd = new FormData();
      fd.append("file", file, file.name);
      xhr.send(fd);
    }

    return {fileLink: fileLink, attachmentUrl: attachmentUrl, zoom: zoom, onPaste: onPaste, upload: upload,
      blobs: blobs, fmtSize: fmtSize};
  });
})();
