// trainwise dashboard: draws charts with plotly.js from JSON endpoints. Every string goes in as text, never HTML.
"use strict";

const POLL_MS = 1000;
const layoutBase = { margin: { t: 36, r: 16, b: 40, l: 56 }, height: 320, xaxis: { title: { text: "epoch" } } };

function isLoss(key) { return key.endsWith("_loss"); }
function isMetric(key) { return (key.startsWith("train_") || key.startsWith("val_")) && !isLoss(key); }

function numericKeys(epochs) {
  const keys = [];
  for (const logs of epochs) {
    for (const [k, v] of Object.entries(logs)) {
      if (k !== "epoch" && typeof v === "number" && !keys.includes(k)) keys.push(k);
    }
  }
  return keys;
}

function traces(epochs, keys, prefix, dashTrain) {
  return keys.map((key) => ({
    x: epochs.filter((e) => e[key] !== null && e[key] !== undefined).map((e) => e.epoch),
    y: epochs.filter((e) => e[key] !== null && e[key] !== undefined).map((e) => e[key]),
    name: prefix + key,
    mode: "lines+markers",
    line: dashTrain && key.startsWith("train_") ? { dash: "dash" } : {},
  }));
}

function draw(div, data, title) {
  const layout = Object.assign({}, layoutBase, { title: { text: title } });
  Plotly.react(div, data, layout, { displaylogo: false, responsive: true });
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(url + ": HTTP " + response.status);
  return response.json();
}

function runPage(root) {
  const id = root.dataset.runId;
  let epochs = [];
  async function tick() {
    let data;
    try {
      data = await getJSON("/api/runs/" + id + "/epochs?after=" + epochs.length);
    } catch (err) {
      setTimeout(tick, POLL_MS * 3);
      return;
    }
    epochs = epochs.concat(data.epochs);
    const keys = numericKeys(epochs);
    draw("curve-loss", traces(epochs, keys.filter(isLoss), "", true), "loss");
    draw("curve-metrics", traces(epochs, keys.filter(isMetric), "", true), "metrics");
    root.dataset.points = String(epochs.length);
    root.dataset.status = data.status;
    const status = document.getElementById("run-status");
    status.textContent = data.status;
    status.className = "status " + data.status;
    document.getElementById("run-epochs").textContent = String(epochs.length);
    if (data.status === "running") setTimeout(tick, POLL_MS);
  }
  tick();
}

async function overlayPage(root) {
  const ids = root.dataset.runIds.split(",");
  const runs = await Promise.all(ids.map((id) => getJSON("/api/runs/" + id + "/epochs")));
  const loss = [], metrics = [];
  for (const run of runs) {
    const keys = numericKeys(run.epochs);
    const label = "#" + run.id + " " + run.name + " ";
    loss.push(...traces(run.epochs, keys.filter(isLoss), label, true));
    metrics.push(...traces(run.epochs, keys.filter(isMetric), label, true));
  }
  draw("overlay-loss", loss, "loss");
  draw("overlay-metrics", metrics, "metrics");
  root.dataset.points = String(loss.length);
}

async function studyPage(root) {
  const figures = await getJSON("/api/studies/" + encodeURIComponent(root.dataset.study));
  for (const [key, figure] of Object.entries(figures)) {
    const div = document.getElementById("study-" + key);
    if (!div) continue;
    if (figure.message) {
      div.textContent = figure.message;
      div.classList.add("message");
    } else {
      const layout = Object.assign({}, figure.layout, { height: 380 });
      Plotly.newPlot(div, figure.data, layout, { displaylogo: false, responsive: true });
      div.dataset.drawn = "1";
    }
  }
  root.dataset.loaded = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("curves");
  if (run) runPage(run);
  const overlay = document.getElementById("overlay-charts");
  if (overlay) overlayPage(overlay);
  const study = document.getElementById("study");
  if (study) studyPage(study);
});
