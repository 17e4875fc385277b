// Attachments (signed links, blobs, zoom) and uploads with progress.

import { safeUrl } from "../../shared/markdown.js";
import { el, icon } from "./dom.js";

export function formatSize(bytes) {
  return bytes > 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
}

const kindOf = (contentType) => (/^image\//.test(contentType) ? "image" : /^audio\//.test(contentType) ? "audio" : "file");
// A link the server signed for this visitor (?s=...): usable as a plain src.
const isSigned = (url) => !!url && /[?&]s=/.test(url) && /^\/[^/]/.test(url);

export function installFiles(widget) {
  const { base, root, state, ui } = widget;
  const urls = {}; // attachment id -> Promise of a URL an <img> or <a> can use

  function attachmentUrl(attachment, message) {
    const id = attachment.id;
    // Without a signed link (a replayed message), ask the history endpoint, which signs;
    // as a last resort fetch with the token in a header (never in a URL) and use a blob.
    if (!urls[id] && isSigned(attachment.url)) urls[id] = Promise.resolve(base + attachment.url);
    if (!urls[id]) {
      const auth = { headers: { Authorization: "Bearer " + state.token } };
      const viaHistory = message && message.seq
        ? fetch(base + "/widget/api/messages?limit=1&conversation_id=" + message.conversation_id
          + "&after_seq=" + (message.seq - 1), auth).then((r) => r.json()).then((data) => {
          const hit = (data.messages || []).find((x) => x.attachment && x.attachment.id === id);
          if (!hit || !isSigned(hit.attachment.url)) throw new Error("unsigned");
          return base + hit.attachment.url;
        })
        : Promise.reject(new Error("no message"));
      urls[id] = viaHistory.catch(() => fetch(base + "/widget/api/attachments/" + id, auth)
        .then((r) => { if (!r.ok) throw new Error(r.status); return r.blob(); })
        .then((blob) => URL.createObjectURL(blob)));
      urls[id].catch(() => { delete urls[id]; });
    }
    return urls[id];
  }

  function fileLink(attachment, message) {
    const label = (attachment.name || widget.t("file")) + (attachment.size ? " · " + formatSize(attachment.size) : "");
    return el("a", { class: "fl", href: "#", onclick: (e) => {
      e.preventDefault();
      attachmentUrl(attachment, message).then((url) => {
        // `download` only works for same-origin (blob) URLs; a signed link opens in a tab.
        if (!/^blob:/.test(url)) { window.open(url, "_blank", "noopener"); return; }
        const link = el("a", { href: url, download: attachment.name || "file" });
        root.appendChild(link);
        link.click();
        link.remove();
      });
    } }, [icon("file", 22), el("span", { text: label })]);
  }

  function zoom(src) {
    if (!src) return;
    const overlay = el("div", { class: "zoom", onclick: () => overlay.remove() }, el("img", { src, alt: "" }));
    ui.k.appendChild(overlay);
  }

  /** The attachment part of a message bubble. */
  function fillAttachment(bubble, message) {
    const a = message.attachment;
    if (!a) return;
    if (message.kind === "image") {
      const img = el("img", { alt: a.name || widget.t("image") });
      img.addEventListener("click", () => zoom(img.src));
      attachmentUrl(a, message).then((url) => { img.src = url; }, () => { img.alt = widget.t("uploadFailed"); });
      bubble.appendChild(img);
    } else if (message.kind === "audio") {
      const audio = el("audio", { controls: true, preload: "metadata" });
      attachmentUrl(a, message).then((url) => { audio.src = url; }, () => {});
      bubble.appendChild(audio);
    } else {
      bubble.appendChild(fileLink(a, message));
    }
  }

  function onPaste(e) {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length) { e.preventDefault(); files.forEach(upload); }
  }

  // XMLHttpRequest rather than fetch: it reports upload progress.
  function upload(file) {
    const t = widget.t;
    const id = widget.newClientId();
    const preview = kindOf(file.type) === "image" ? URL.createObjectURL(file) : null;
    const progress = el("i");
    const bubble = el("div", { class: "b" }, [
      preview ? el("img", { src: preview, alt: file.name }) : el("div", { class: "fl" }, [icon("file", 22),
        el("span", { text: file.name + " · " + formatSize(file.size) })]),
      el("div", { class: "prog" }, progress)]);
    const status = el("div", { class: "st", text: t("sending") });
    const row = el("div", { class: "row me" }, el("div", { class: "col" }, [bubble, status]));
    row._st = status;
    state.pending[id] = { row, item: { client_msg_id: id, kind: kindOf(file.type), body: "" } };
    ui.tail.appendChild(row);
    widget.scrollDown();
    const failUpload = (why) => { status.textContent = why; status.classList.add("err"); progress.parentNode.hidden = true; };
    if (file.size > (state.settings.max_upload_mb || 20) * 1048576) return failUpload(t("tooBig"));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", base + "/widget/api/upload");
    xhr.setRequestHeader("Authorization", "Bearer " + state.token);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress.style.width = Math.round((100 * e.loaded) / e.total) + "%";
    };
    xhr.onload = () => {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      const a = answer && (answer.attachment || answer);
      if (xhr.status >= 300 || !a || !a.id) return failUpload(t("uploadFailed"));
      progress.style.width = "100%";
      const contentType = a.content_type || file.type;
      urls[a.id] = Promise.resolve(preview || URL.createObjectURL(file));
      widget.enqueue({ client_msg_id: id, kind: kindOf(contentType), body: "", attachment_id: a.id,
        attachment: { id: a.id, name: a.name || file.name, size: a.size || file.size, content_type: contentType, url: a.url } }, row);
    };
    xhr.onerror = () => failUpload(t("uploadFailed"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  }

  /** An avatar or logo from the settings: our own path, or an absolute http(s) URL. */
  function assetUrl(url) {
    if (!url) return null;
    if (/^\/[^/]/.test(url)) return base + url;
    return safeUrl(url);
  }

  Object.assign(widget, { fillAttachment, onPaste, upload, assetUrl });
}
