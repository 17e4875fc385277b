// JSON in localStorage under one prefix per widget key. localStorage is per host
// origin, so the tabs of one site share the visitor; private modes that refuse it
// just get the fallback.

export function createStore(prefix) {
  return {
    get(key, fallback) {
      try {
        const value = window.localStorage.getItem(prefix + key);
        return value == null ? fallback : JSON.parse(value);
      } catch (e) {
        return fallback;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(prefix + key, JSON.stringify(value));
      } catch (e) { /* private mode or full: the widget still works for this page */ }
    },
  };
}

export function newClientId() {
  return window.crypto && crypto.randomUUID ? crypto.randomUUID()
    : "m" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}
