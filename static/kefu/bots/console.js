// AI console pages: confirmation of destructive forms, and live ingestion progress.
// The pages work without this script; it only adds confirmations and the live bars.

const POLL_MS = 1000;
const MAX_BACKOFF_MS = 8000;
const ACTIVE = new Set(["pending", "processing"]);

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

function rowsById(tbody) {
  const rows = new Map();
  for (const row of tbody.querySelectorAll("tr[data-document]")) rows.set(Number(row.dataset.document), row);
  return rows;
}

function paint(row, doc) {
  row.dataset.status = doc.status;
  const pill = row.querySelector('[data-role="status"]');
  pill.className = `pill ${doc.status}`;
  pill.textContent = doc.status_label;
  const bar = row.querySelector('[role="progressbar"]');
  bar.className = `bar ${doc.status}`;
  bar.setAttribute("aria-valuenow", String(doc.progress));
  bar.firstElementChild.style.width = `${doc.progress}%`;
  row.querySelector('[data-role="percent"]').textContent = `${doc.progress}%`;
  row.querySelector('[data-role="chunks"]').textContent = String(doc.chunks);
  const error = row.querySelector(".doc-error");
  error.textContent = doc.error || "";
  error.hidden = doc.status !== "failed";
}

function watchIngestion(section) {
  const url = section.dataset.progressUrl;
  const tbody = section.querySelector("#document-rows");
  if (!url || !tbody) return;
  const rows = rowsById(tbody);
  // Rows still in flight when the page was drawn; a finished row is painted once more, then dropped.
  const watched = new Set([...rows].filter(([, row]) => ACTIVE.has(row.dataset.status)).map(([id]) => id));
  if (!watched.size) return;
  let delay = POLL_MS;
  let timer = 0;

  async function tick() {
    let data;
    try {
      const response = await fetch(`${url}?ids=${[...watched].join(",")}`, {
        credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      data = await response.json();
      delay = POLL_MS;
    } catch (error) {
      // A restart or a network blip: keep trying, more slowly.
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      timer = window.setTimeout(tick, delay);
      return;
    }
    for (const doc of data.documents) {
      const row = rows.get(doc.id);
      if (!row) continue;
      paint(row, doc);
      if (ACTIVE.has(doc.status)) watched.add(doc.id);
      else watched.delete(doc.id);
    }
    const total = document.getElementById("chunk-total");
    if (total) total.textContent = String(data.chunks);
    section.dataset.polling = watched.size ? "on" : "off";
    if (watched.size && data.active > 0) timer = window.setTimeout(tick, delay);
    else section.dataset.polling = "off";
  }

  section.dataset.polling = "on";
  timer = window.setTimeout(tick, POLL_MS);
  window.addEventListener("pagehide", () => window.clearTimeout(timer));
}

const documents = document.getElementById("documents");
if (documents) watchIngestion(documents);
