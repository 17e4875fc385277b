// The widget's own wording in zh-hans and en; a tenant can override any of it per
// locale (settings.texts), see app.js.

export const TEXTS = {
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
    phone: "Phone", start: "Start chat", leaveTitle: "Leave your contact details", awayText: "We are away right now.",
    leaveText: "We are offline. Leave your contact details and we will get back to you.",
    leaveSend: "Send details", leaveThanks: "Thanks! We will contact you soon.",
    reconnecting: "Connecting…", newMessage: "New message", poweredBy: "Powered by Kefu",
    download: "Download", image: "Image", audio: "Voice message", file: "File",
    invalidEmail: "Please enter a valid email", required: "Please fill in your name"
  },
  "zh-hans": {
    title: "在线客服", online: "通常几分钟内回复", offline: "客服暂时不在线",
    placeholder: "输入消息…", send: "发送", human: "转人工客服", close: "关闭",
    open: "打开聊天", welcome: "您好！请问有什么可以帮您？", typing: "{name} 正在输入…",
    someone: "对方", you: "我", bot: "智能助手", agent: "客服", read: "已读", sent: "已发送",
    sending: "发送中…", queued: "等待发送", failed: "发送失败", queue: "您前面还有 {n} 位",
    queueNext: "马上轮到您了", sources: "参考来源", emoji: "表情", attach: "发送文件",
    uploadFailed: "上传失败", tooBig: "文件太大", drop: "松开即可发送文件",
    rateTitle: "请对本次服务评分", rateComment: "还有什么想说的？（可选）", rateSend: "提交评价",
    rateThanks: "感谢您的评价！", closed: "本次会话已结束。",
    newChat: "开始新的会话", prechatTitle: "开始咨询前", name: "姓名", email: "邮箱",
    phone: "电话", start: "开始咨询", leaveTitle: "留下联系方式", awayText: "客服暂时不在线。",
    leaveText: "客服暂时不在线，请留下联系方式，我们会尽快联系您。",
    leaveSend: "提交", leaveThanks: "谢谢！我们会尽快与您联系。",
    reconnecting: "正在连接…", newMessage: "新消息", poweredBy: "由 Kefu 提供支持",
    download: "下载", image: "图片", audio: "语音", file: "文件",
    invalidEmail: "请输入有效的邮箱", required: "请填写姓名"
  }
};

/** "zh-CN", "zh_TW", "en-GB" ... to a locale the widget ships, or null. */
export function pickLocale(value) {
  const v = String(value || "").toLowerCase();
  if (v.startsWith("zh")) return "zh-hans";
  if (v.startsWith("en")) return "en";
  return null;
}

/** A t(key, vars) for `locale`, falling back to English and then to the key. */
export function translator(locale) {
  return (key, vars) => {
    let s = (TEXTS[locale] && TEXTS[locale][key]) || TEXTS.en[key] || key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] == null ? m : String(vars[k])));
    return s;
  };
}
