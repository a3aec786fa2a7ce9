// The page of `nmt serve`: POST /translate with attention, show each line, and the attention of
// the selected line as a table (rows: target pieces, columns: source pieces). No framework.
"use strict";

const $ = (id) => document.getElementById(id);
let results = [];

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModels() {
  const answer = await fetch("/models").then((r) => r.json());
  const select = $("direction");
  select.replaceChildren();
  for (const model of answer.models) {
    const option = document.createElement("option");
    option.value = model.name;
    option.textContent = model.source ? `${model.source} → ${model.target} (${model.name})` : `${model.name} (${model.state})`;
    option.disabled = model.state !== "ready";
    select.append(option);
  }
  if (answer.models.some((m) => m.state !== "ready")) {
    setStatus("models loading…");
    setTimeout(loadModels, 1000);
  } else {
    setStatus("");
  }
}

async function translate() {
  const lines = $("source").value.split("\n");
  const headers = { "Content-Type": "application/json" };
  if ($("key").value) headers["X-API-Key"] = $("key").value;
  setStatus("translating…");
  $("translate").disabled = true;
  try {
    const response = await fetch("/translate", {
      method: "POST",
      headers,
      body: JSON.stringify({ text: lines, model: $("direction").value, attention: true }),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    results = answer.translations;
    showTranslations();
    select(results.findIndex((t) => t.text !== ""));
    setStatus("");
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("translate").disabled = false;
  }
}

function showTranslations() {
  const output = $("output");
  output.replaceChildren();
  results.forEach((translation, index) => {
    const line = document.createElement("div");
    line.className = "line";
    line.textContent = translation.text;
    line.addEventListener("click", () => select(index));
    output.append(line);
  });
}

function select(index) {
  document.querySelectorAll("#output .line").forEach((line, i) => line.classList.toggle("selected", i === index));
  const place = $("attention");
  place.replaceChildren();
  const translation = results[index];
  if (!translation || !translation.attention) return;
  const table = document.createElement("table");
  table.className = "heatmap";
  const head = table.createTHead().insertRow();
  head.append(document.createElement("th"));
  for (const piece of translation.src_pieces) {
    const th = document.createElement("th");
    th.textContent = piece;
    head.append(th);
  }
  const body = table.createTBody();
  translation.attention.forEach((weights, row) => {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = translation.tgt_pieces[row];
    tr.append(th);
    weights.forEach((weight, column) => {
      const td = tr.insertCell();
      td.style.background = `rgba(30, 80, 200, ${weight ?? 0})`;
      td.title = `${translation.tgt_pieces[row]} ← ${translation.src_pieces[column]}: ${weight}`;
    });
  });
  place.append(table);
}

$("translate").addEventListener("click", translate);
$("source").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) translate();
});
loadModels().catch((error) => setStatus(`cannot list the models: ${error.message}`, true));
