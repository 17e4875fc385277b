// REST calls of the console: same-origin, session cookie, CSRF header on writes.

function csrf() {
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    // The API's one error shape: {"error": {"code", "message", "fields"?}}.
    const err = (body && body.error) || {};
    super(err.message || err.code || `HTTP ${status}`);
    this.code = err.code;
    this.status = status;
    this.body = body;
  }
}

let base = "/api/v1/";
export function setBase(url) { base = url; }

export async function api(path, { method = "GET", body, form, query } = {}) {
  let url = base + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    if (s) url += "?" + s;
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") headers["X-CSRFToken"] = csrf();
  if (form) init.body = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const res = await fetch(url, init);
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    throw new ApiError(res.status, data);
  }
  return data;
}
