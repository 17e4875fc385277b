/* Kefu widget library: texts (zh-hans / en), safe DOM building, the markdown renderer
 * and the stylesheet. Loaded by widget.js before app.js; no globals of its own. */
(function () {
  "use strict";
  window.kefu._d("lib", function () {
    var T = {
      en: {
        title: "Chat with us", online: "We reply in a few minutes", offline: "We are away right now",
        placeholder: "Type a message…", send: "Send", human: "Talk to a human", close: "Close",
        open: "Open chat", welcome: "Hi! How can we help you today?", typing: "{name} is typing…",
        someone: "Someone", you: "You", bot: "Assistant", agent: "Agent", read: "Read", sent: "Sent",
        sending: "Sending…", queued: "Waiting to send", failed: "Not sent", queue: "You are number {n} in line",
        queueNext: "You are next in line", sources: "Sources", emoji: "Emoji", attach: "Attach a file",
        uploadFailed: "Upload failed", tooBig: "File is too large", drop: "Drop files to send",
        rateTitle: "How did we do?", rateComment: "Anything to add? (optional)", rateSend: "Send rating",
        rateThanks: "Thank you for your feedback!", closed: "This conversation has ended.",
        newChat: "Start a new conversation", prechatTitle: "Before we start", name: "Name", email: "Email",
        phone: "Phone", start: "Start chat", leaveTitle: "Leave us a message",
        leaveText: "We are offline. Leave your contact details and we will get back to you.",
        leaveSend: "Send details", leaveThanks: "Thanks! We will contact you soon.",
        reconnecting: "Connecting…", newMessage: "New message", poweredBy: "Powered by Kefu",
        download: "Download", image: "Image", audio: "Voice message", file: "File",
        invalidEmail: "Please enter a valid email", required: "Please fill in your name"
      },
      "zh-hans": {
        title: "在线客服", online: "通常几分钟内回复", offline: "客服暂时不在线",
        placeholder: "输入消息…", send: "发送", human: "转人工客服", close: "关闭",
        open: "打开聊天", welcome: "您好!请问有什么可以帮您?", typing: "{name} 正在输入…",
        someone: "对方", you: "我", bot: "智能助手", agent: "客服", read: "已读", sent: "已发送",
        sending: "发送中…", queued: "等待发送", failed: "发送失败", queue: "您前面还有 {n} 位",
        queueNext: "马上轮到您了", sources: "参考来源", emoji: "表情", attach: "发送文件",
        uploadFailed: "上传失败", tooBig: "文件太大", drop: "松开即可发送文件",
        rateTitle: "请对本次服务评分", rateComment: "还有什么想说的?(可选)", rateSend: "提交评价",
        rateThanks: "感谢您的评价!", closed: "本次会话已结束。",
        newChat: "开始新的会话", prechatTitle: "开始咨询前", name: "姓名", email: "邮箱",
        phone: "电话", start: "开始咨询", leaveTitle: "给我们留言",
        leaveText: "客服暂时不在线,请留下联系方式,我们会尽快联系您。",
        leaveSend: "提交", leaveThanks: "谢谢!我们会尽快与您联系。",
        reconnecting: "正在连接…", newMessage: "新消息", poweredBy: "由 Kefu 提供支持",
        download: "下载", image: "图片", audio: "语音", file: "文件",
        invalidEmail: "请输入有效的邮箱", required: "请填写姓名"
      }
    };

    function pickLocale(value) {
      var v = String(value || "").toLowerCase();
      if (v.indexOf("zh") === 0) return "zh-hans";
      if (v.indexOf("en") === 0) return "en";
      return null;
    }

    function translator(locale) {
      return function (key, vars) {
        var s = (T[locale] && T[locale][key]) || T.en[key] || key;
        if (vars) s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] == null ? m : String(vars[k]); });
        return s;
      };
    }

    // Safe DOM building: text only ever goes through text nodes / textContent.
    function h(tag, attrs, kids) {
      var el = document.createElement(tag);
      if (attrs) {
        for (var k in attrs) {
          var v = attrs[k];
          if (v == null || v === false) continue;
          if (k === "class") el.className = v;
          else if (k === "text") el.textContent = v;
          else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
          else el.setAttribute(k, v === true ? "" : v);
        }
      }
      append(el, kids);
      return el;
    }

    function append(el, kids) {
      if (kids == null) return el;
      if (!Array.isArray(kids)) kids = [kids];
      for (var i = 0; i < kids.length; i++) {
        var c = kids[i];
        if (c == null || c === false) continue;
        el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      }
      return el;
    }

    // SVG icons: fixed path data, never user input.
    var ICONS = {
      chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
      close: "M6 6l12 12M18 6L6 18",
      send: "M3 11l18-8-8 18-2-8-8-2z",
      clip: "M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7",
      smile: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01",
      user: "M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2M12 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
      file: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6",
      star: "M12 2l3.1 6.3 6.9 1-5 4.9 1.2 6.8L12 17.8 5.8 21l1.2-6.8-5-4.9 6.9-1z",
      down: "M6 9l6 6 6-6"
    };
    function icon(name, size) {
      var ns = "http://www.w3.org/2000/svg";
      var svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("width", size || 20);
      svg.setAttribute("height", size || 20);
      svg.setAttribute("aria-hidden", "true");
      var p = document.createElementNS(ns, "path");
      p.setAttribute("d", ICONS[name]);
      svg.appendChild(p);
      return svg;
    }

    /* Markdown, the safe way: the input is treated as plain text, and only a few
     * constructs become elements (paragraphs, "- " lists, **bold**, *italic*, `code`,
     * [text](http(s) url) and bare http(s) links). Every character of user text ends
     * up in a text node, so there is nothing to escape wrongly. */
    var INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*|_[^_\n]+_)|(\[[^\]\n]+\]\((https?:\/\/[^\s)]+)\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/i;

    function safeUrl(url) {
      return /^https?:\/\/[^\s]+$/i.test(url) ? url : null;
    }

    function link(url, text) {
      var ok = safeUrl(url);
      if (!ok) return document.createTextNode(text);
      return h("a", {href: ok, target: "_blank", rel: "noopener noreferrer nofollow", text: text});
    }

    function inline(text, into) {
      var rest = text;
      var guard = 0;
      while (rest && guard++ < 500) {
        var m = INLINE.exec(rest);
        if (!m) break;
        if (m.index) into.appendChild(document.createTextNode(rest.slice(0, m.index)));
        var tok = m[0];
        if (m[1]) into.appendChild(h("code", {text: tok.slice(1, -1)}));
        else if (m[2]) into.appendChild(inline(tok.slice(2, -2), h("strong")));
        else if (m[3]) into.appendChild(inline(tok.slice(1, -1), h("em")));
        else if (m[4]) into.appendChild(link(m[5], tok.slice(1, tok.indexOf("]("))));
        else into.appendChild(link(tok, tok));
        rest = rest.slice(m.index + tok.length);
      }
      if (rest) into.appendChild(document.createTextNode(rest));
      return into;
    }

    function markdown(text) {
      var out = document.createDocumentFragment();
      var blocks = String(text || "").replace(/\r\n?/g, "\n").split(/\n{2,}/);
      for (var i = 0; i < blocks.length; i++) {
        var lines = blocks[i].split("\n");
        var isList = lines.every(function (l) { return /^\s*[-*•]\s+/.test(l) || !l.trim(); });
        if (isList && lines.some(function (l) { return l.trim(); })) {
          var ul = h("ul");
          lines.forEach(function (l) {
            if (l.trim()) ul.appendChild(inline(l.replace(/^\s*[-*•]\s+/, ""), h("li")));
          });
          out.appendChild(ul);
          continue;
        }
        var p = h("p");
        lines.forEach(function (l, j) {
          if (j) p.appendChild(h("br"));
          inline(l, p);
        });
        out.appendChild(p);
      }
      return out;
    }

    var EMOJI = ("😀 😁 😂 🤣 😊 😍 😘 😎 🤔 😅 😉 🙂 🙃 😢 😭 😡 😱 😴 🤗 🤝 👍 👎 👌 🙏 👏 💪 " +
      "🎉 ❤️ 💔 🔥 ⭐ ✅ ❌ ❓ ❗ 📦 🚚 💰 📷 ☕").split(" ");

    var CSS = [
      ":host{all:initial}",
      "*{box-sizing:border-box}",
      ".k{--c:#1677ff;--ct:#fff;font:14px/1.5 -apple-system,BlinkMacSystemFont,'Segoe UI','PingFang SC','Hiragino Sans GB','Noto Sans CJK SC','Microsoft YaHei',sans-serif;color:#1f2329;-webkit-font-smoothing:antialiased;text-align:left;letter-spacing:normal}",
      ".k button{font:inherit;color:inherit;cursor:pointer;border:0;background:none;padding:0;margin:0}",
      ".k input,.k textarea{font:inherit;color:inherit}",
      ".k svg{fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;display:block}",
      ".k .lau{position:fixed;bottom:20px;right:20px;width:60px;height:60px;border-radius:50%;background:var(--c);color:var(--ct);box-shadow:0 6px 24px rgba(0,0,0,.22);display:flex;align-items:center;justify-content:center;transition:transform .2s}",
      ".k .lau:hover{transform:scale(1.06)}",
      ".left .lau{right:auto;left:20px}",
      ".lau svg{width:28px;height:28px}",
      ".lau svg+svg,.isopen .lau svg:first-child{display:none}.isopen .lau svg+svg{display:block}",
      ".badge{position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#f5222d;color:#fff;font-size:12px;font-weight:600;line-height:22px;text-align:center;box-shadow:0 0 0 2px #fff}",
      ".panel{position:fixed;bottom:92px;right:20px;width:376px;height:min(640px,calc(100vh - 120px));background:#fff;border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.18);display:flex;flex-direction:column;overflow:hidden;opacity:0;transform:translateY(12px) scale(.98);pointer-events:none;transition:opacity .18s,transform .18s}",
      ".left .panel{right:auto;left:20px}",
      ".isopen .panel{opacity:1;transform:none;pointer-events:auto}",
      ".hd{background:var(--c);color:var(--ct);padding:16px 16px 14px;display:flex;align-items:center;gap:12px;flex:none}",
      ".av{width:40px;height:40px;border-radius:50%;background:rgba(255,255,255,.22);display:flex;align-items:center;justify-content:center;flex:none;overflow:hidden;position:relative}",
      ".av img{width:100%;height:100%;object-fit:cover}",
      ".dot{position:absolute;right:1px;bottom:1px;width:10px;height:10px;border-radius:50%;background:#52c41a;box-shadow:0 0 0 2px var(--c)}",
      ".off .dot{background:#bfbfbf}",
      ".ht{flex:1;min-width:0}",
      ".hn{font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
      ".hs{font-size:12px;opacity:.85}",
      ".x{width:32px;height:32px;border-radius:8px;display:flex;align-items:center;justify-content:center;color:var(--ct)}",
      ".x:hover{background:rgba(255,255,255,.18)}",
      ".bar{font-size:12px;text-align:center;padding:6px 12px;background:#fffbe6;color:#874d00;border-bottom:1px solid #ffe58f;flex:none}",
      ".log{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f7f8fa;overscroll-behavior:contain}",
      ".row{display:flex;margin:6px 0;gap:8px;align-items:flex-end}",
      ".row.me{justify-content:flex-end}",
      ".mav{width:28px;height:28px;border-radius:50%;background:var(--c);color:var(--ct);font-size:12px;font-weight:600;display:flex;align-items:center;justify-content:center;flex:none;overflow:hidden}",
      ".mav img{width:100%;height:100%;object-fit:cover}",
      ".col{max-width:78%;display:flex;flex-direction:column;min-width:0}",
      ".me .col{align-items:flex-end}",
      ".who{font-size:11px;color:#8f959e;margin:0 4px 2px}",
      ".b{background:#fff;border-radius:14px 14px 14px 4px;padding:8px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06);word-wrap:break-word;overflow-wrap:anywhere;white-space:normal}",
      ".me .b{background:var(--c);color:var(--ct);border-radius:14px 14px 4px 14px}",
      ".b p{margin:0 0 6px}.b p:last-child{margin:0}",
      ".b ul{margin:2px 0 6px;padding-left:18px}",
      ".b code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;background:rgba(0,0,0,.06);padding:1px 4px;border-radius:4px}",
      ".b a{color:inherit;text-decoration:underline}",
      ".b img{display:block;max-width:220px;max-height:240px;border-radius:8px;cursor:zoom-in}",
      ".b audio{width:220px;max-width:100%}",
      ".fl{display:flex;align-items:center;gap:8px;color:inherit;text-decoration:none}",
      ".st{font-size:11px;color:#8f959e;margin:2px 4px 0}",
      ".st.err{color:#f5222d}",
      ".sys{text-align:center;font-size:12px;color:#8f959e;margin:10px 0}",
      ".src{margin-top:6px;font-size:12px;color:#646a73;display:flex;flex-wrap:wrap;gap:4px;align-items:center}",
      ".src a,.src span.s{background:#eef1f5;border-radius:6px;padding:1px 6px;color:#3b4350;text-decoration:none;max-width:220px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
      ".qr{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px 36px}",
      ".chip{border:1px solid var(--c)!important;color:var(--c)!important;background:#fff!important;border-radius:16px!important;padding:4px 12px!important;font-size:13px}",
      ".chip:hover{background:var(--c)!important;color:var(--ct)!important}",
      ".tp{display:inline-flex;gap:3px;align-items:center;padding:10px 12px}",
      ".tp i{width:6px;height:6px;border-radius:50%;background:#a0a6ae;animation:kb 1.2s infinite}",
      ".tp i:nth-child(2){animation-delay:.2s}.tp i:nth-child(3){animation-delay:.4s}",
      "@keyframes kb{0%,60%,100%{opacity:.3;transform:none}30%{opacity:1;transform:translateY(-3px)}}",
      ".cur::after{content:'';display:inline-block;width:7px;height:14px;background:currentColor;margin-left:2px;vertical-align:-2px;animation:kc 1s steps(2) infinite}",
      "@keyframes kc{50%{opacity:0}}",
      ".acts{display:flex;gap:6px;padding:6px 12px 0;flex:none;background:#fff}",
      ".ft{border-top:1px solid #eef0f3;background:#fff;flex:none;position:relative}",
      ".cmp{display:flex;align-items:flex-end;gap:4px;padding:8px 10px 10px}",
      ".cmp textarea{flex:1;border:0;outline:0;resize:none;max-height:120px;min-height:36px;padding:8px 6px;background:transparent;line-height:20px}",
      ".ib{width:36px;height:36px;border-radius:10px;display:flex;align-items:center;justify-content:center;color:#646a73;flex:none}",
      ".ib:hover{background:#f2f3f5;color:var(--c)}",
      ".sb{color:var(--c)}",
      ".emo{position:absolute;bottom:100%;left:8px;right:8px;background:#fff;border:1px solid #eef0f3;border-radius:12px;box-shadow:0 8px 24px rgba(0,0,0,.12);padding:8px;display:grid;grid-template-columns:repeat(8,1fr);gap:2px}",
      ".emo button{font-size:20px;height:36px;border-radius:8px}",
      ".emo button:hover{background:#f2f3f5}",
      ".pw{text-align:center;font-size:11px;color:#b0b5bd;padding:0 0 6px}",
      ".card{background:#fff;border-radius:12px;padding:14px;margin:10px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}",
      ".card h4{margin:0 0 6px;font-size:14px;font-weight:600}",
      ".card p{margin:0 0 10px;color:#646a73;font-size:13px}",
      ".card input,.card textarea{display:block;width:100%;border:1px solid #dcdfe4;border-radius:8px;padding:8px 10px;margin:0 0 8px;outline:0;background:#fff}",
      ".card input:focus,.card textarea:focus{border-color:var(--c)}",
      ".pb{display:block;width:100%;background:var(--c)!important;color:var(--ct)!important;border-radius:8px!important;padding:9px!important;font-weight:600}",
      ".pb:disabled{opacity:.5}",
      ".stars{display:flex;gap:6px;justify-content:center;margin:4px 0 10px}",
      ".stars button{color:#d9d9d9}.stars button.on{color:#fadb14}.stars svg{width:30px;height:30px;fill:currentColor;stroke:none}",
      ".ferr{color:#f5222d;font-size:12px;margin:-4px 0 8px}",
      ".prog{height:4px;background:rgba(255,255,255,.35);border-radius:2px;margin-top:6px;overflow:hidden}",
      ".prog i{display:block;height:100%;background:currentColor;width:0;transition:width .15s}",
      ".dz{position:absolute;inset:0;background:rgba(255,255,255,.92);border:2px dashed var(--c);border-radius:16px;display:flex;align-items:center;justify-content:center;color:var(--c);font-weight:600;z-index:3}",
      ".zoom{position:fixed;inset:0;background:rgba(0,0,0,.8);display:flex;align-items:center;justify-content:center;z-index:5;cursor:zoom-out}",
      ".zoom img{max-width:94vw;max-height:94vh;border-radius:6px}",
      "[hidden]{display:none!important}",
      "@media (max-width:480px){.isopen .lau{display:none}.panel{inset:0;width:100%;height:100%;height:100dvh;border-radius:0;bottom:0;right:0}.left .panel{left:0}.col{max-width:84%}}"
    ].join("\n");

    return {T: T, pickLocale: pickLocale, translator: translator, h: h, append: append, icon: icon,
      markdown: markdown, safeUrl: safeUrl, EMOJI: EMOJI, CSS: CSS};
  });
})();
