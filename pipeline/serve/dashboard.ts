import { createHash } from "node:crypto";
import type { FastifyPluginAsync } from "fastify";

/**
 * GET /dashboard: one self-contained page (no framework, nothing loaded from elsewhere) that reads
 * the monitoring JSON endpoints and draws its charts as inline SVG. The Content-Security-Policy
 * allows only this page's own inline style and script (by hash) and requests to the same origin,
 * so "loads nothing from outside" is enforced by the browser, not only by how the page is written.
 */

const STYLE = String.raw`
:root { color-scheme: light; --fg: #1b1f24; --muted: #4a525c; --line: #c9ced6; --bg: #ffffff; --panel: #f5f7fa; --accent: #0b57d0; --bad: #a4161a; --good: #1b6e20; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 16px; }
header { display: flex; flex-wrap: wrap; align-items: flex-end; justify-content: space-between; gap: 12px; padding-top: 16px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 0 0 8px; }
.sub { color: var(--muted); margin: 2px 0 0; font-size: 0.9rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.85em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 16px; margin: 16px 0; }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
dl.figures { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dl.figures dt { color: var(--muted); }
dl.figures dd { margin: 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
.table-scroll { overflow-x: auto; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
.legend { display: flex; flex-wrap: wrap; gap: 10px; list-style: none; padding: 0; margin: 6px 0 0; font-size: 0.85rem; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; border-radius: 2px; }
.verdict { font-weight: 600; }
.verdict.drifted, .bad { color: var(--bad); }
.verdict.no_drift, .good { color: var(--good); }
button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
input { font: inherit; padding: 5px 8px; border: 1px solid #6b737d; border-radius: 6px; }
label { font-size: 0.9rem; }
a { color: var(--accent); }
.key-form { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 16px; max-width: 420px; }
dialog::backdrop { background: rgba(0, 0, 0, 0.35); }
.row { display: flex; gap: 8px; margin-top: 10px; justify-content: flex-end; }
.status { min-height: 1.4em; margin: 8px 0 0; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 0.85rem; padding-bottom: 24px; }
`;

const SCRIPT = String.raw`
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#0b57d0", "#8a5a00", "#b3261e", "#1b6e20", "#6f3cc4", "#00677d", "#7d5260", "#4a525c"];
  var classColors = {};
  var keyName = "monitoring-api-key";
  var state = { classes: [] };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(x, digits) {
    if (x === null || x === undefined || (typeof x === "number" && !isFinite(x))) return "–";
    if (typeof x !== "number") return String(x);
    return x.toFixed(digits === undefined ? 3 : digits);
  }
  function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%"; }
  function shortTime(iso) { return iso ? iso.slice(11, 16) : ""; }
  function colorOf(cls) {
    if (!classColors[cls]) classColors[cls] = PALETTE[Object.keys(classColors).length % PALETTE.length];
    return classColors[cls];
  }
  function headers() {
    var key = sessionStorage.getItem(keyName);
    return key ? { Authorization: "Bearer " + key } : {};
  }
  function getJson(path) {
    return fetch(path, { headers: headers(), cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) {
          var e = new Error((body && body.error && body.error.message) || ("HTTP " + r.status));
          e.status = r.status;
          throw e;
        }
        return body;
      });
    });
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function setStatus(msg, bad) {
    var s = $("load-status");
    s.textContent = msg;
    s.className = "status" + (bad ? " bad" : "");
  }

  // --- charts (inline SVG) ---
  // Drawn at the size it is shown (never scaled up), so labels keep their size; narrower screens shrink it.
  function chartFrame(id, label, width, height) {
    var holder = $(id);
    clear(holder);
    var svg = svgEl("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img", "aria-label": label, focusable: "false" });
    holder.appendChild(svg);
    return svg;
  }

  function drawDrift(drift) {
    var features = drift.features || [];
    var W = 760, rowH = 24, left = 120, width = W - left - 16, top = 8;
    var height = top + features.length * rowH + 28;
    var svg = chartFrame("drift-chart", "Drift statistic per feature against its threshold; " + drift.verdict.replace("_", " "), W, height);
    var max = 0;
    features.forEach(function (f) { max = Math.max(max, f.statistic || 0, f.threshold || 0); });
    max = max > 0 ? max * 1.1 : 1;
    var x = function (v) { return left + (width * v) / max; };
    features.forEach(function (f, i) {
      var y = top + i * rowH;
      svg.appendChild(svgEl("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, f.feature));
      svg.appendChild(svgEl("rect", { x: left, y: y + 4, width: width, height: 14, fill: "#e3e7ed" }));
      if (f.statistic !== null) {
        var bar = svgEl("rect", { x: left, y: y + 4, width: Math.max(1, x(f.statistic) - left), height: 14, fill: f.drifted ? "#b3261e" : "#0b57d0", "class": "drift-bar", "data-feature": f.feature, "data-statistic": f.statistic, "data-threshold": f.threshold === null ? "" : f.threshold, "data-drifted": String(f.drifted) });
        bar.appendChild(svgEl("title", null, f.feature + ": " + fmt(f.statistic) + " (threshold " + fmt(f.threshold) + ")" + (f.drifted ? ", drifted" : "")));
        svg.appendChild(bar);
      }
      if (f.threshold !== null) svg.appendChild(svgEl("line", { x1: x(f.threshold), x2: x(f.threshold), y1: y + 1, y2: y + 21, stroke: "#1b1f24", "stroke-width": 2, "stroke-dasharray": "3 2" }));
    });
    svg.appendChild(svgEl("text", { x: left, y: height - 6 }, "0"));
    svg.appendChild(svgEl("text", { x: left + width, y: height - 6, "text-anchor": "end" }, fmt(max, 2)));
    svg.appendChild(svgEl("text", { x: left + width / 2, y: height - 6, "text-anchor": "middle" }, "dashed line: threshold"));

    var verdict = $("drift-verdict");
    verdict.className = "verdict " + drift.verdict;
    verdict.textContent = drift.verdict === "insufficient_data" ? "No verdict yet: " + drift.window.rows + " of " + drift.window.min_rows + " inputs in the window" : drift.verdict === "drifted" ? "Drifted: " + drift.drifted + " of " + drift.compared + " features" : "No drift: " + drift.drifted + " of " + drift.compared + " features above threshold";
    $("drift-window").textContent = (drift.window.mode === "count" ? "last " + drift.window.size + " inputs" : "last " + drift.window.seconds + " s") + " · " + drift.window.rows + " in window · reference " + drift.reference.rows + " rows";

    var body = $("drift-rows");
    clear(body);
    features.forEach(function (f) {
      var tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, f.feature));
      tr.appendChild(el("td", null, f.method));
      tr.appendChild(el("td", null, fmt(f.statistic)));
      tr.appendChild(el("td", null, fmt(f.threshold)));
      tr.appendChild(el("td", null, f.drifted === null ? "–" : f.drifted ? "yes" : "no"));
      body.appendChild(tr);
    });
  }

  function drawClasses(series, classes) {
    var buckets = series.buckets;
    var W = 380, height = 190, left = 40, bottom = 22, top = 8, width = W - left - 8;
    var svg = chartFrame("class-chart", "Predictions per class per " + series.bucket_seconds + " s, last " + buckets.length + " intervals", W, height);
    var max = 1;
    buckets.forEach(function (b) { max = Math.max(max, b.count); });
    var bw = width / buckets.length;
    var plotH = height - top - bottom;
    svg.appendChild(svgEl("line", { x1: left, x2: left + width, y1: top + plotH, y2: top + plotH, stroke: "#6b737d" }));
    svg.appendChild(svgEl("text", { x: left - 4, y: top + 10, "text-anchor": "end" }, max));
    svg.appendChild(svgEl("text", { x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"));
    buckets.forEach(function (b, i) {
      var y = top + plotH;
      classes.forEach(function (c) {
        var n = b.classes[c] || 0;
        if (!n) return;
        var h = (plotH * n) / max;
        y -= h;
        var r = svgEl("rect", { x: left + i * bw + 0.5, y: y, width: Math.max(1, bw - 1), height: h, fill: colorOf(c), "class": "class-bar", "data-class": c, "data-count": n, "data-start": b.start });
        r.appendChild(svgEl("title", null, shortTime(b.start) + " " + c + ": " + n));
        svg.appendChild(r);
      });
    });
    if (buckets.length) {
      svg.appendChild(svgEl("text", { x: left, y: height - 6 }, shortTime(buckets[0].start)));
      svg.appendChild(svgEl("text", { x: left + width, y: height - 6, "text-anchor": "end" }, shortTime(buckets[buckets.length - 1].start)));
    }
    var legend = $("class-legend");
    clear(legend);
    classes.forEach(function (c) {
      var li = el("li");
      var sw = el("span", { "class": "swatch", "aria-hidden": "true" });
      sw.style.background = colorOf(c);
      li.appendChild(sw);
      li.appendChild(document.createTextNode(c));
      legend.appendChild(li);
    });
  }

  function drawLatency(series) {
    var buckets = series.buckets;
    var W = 380, height = 190, left = 48, bottom = 22, top = 8, width = W - left - 16;
    var svg = chartFrame("latency-chart", "Latency per " + series.bucket_seconds + " s interval: mean and 95th percentile in milliseconds", W, height);
    var max = 0;
    buckets.forEach(function (b) { if (b.count) max = Math.max(max, b.p95_ms || 0, b.mean_ms || 0); });
    max = max > 0 ? max * 1.15 : 1;
    var plotH = height - top - bottom;
    var step = buckets.length > 1 ? width / (buckets.length - 1) : width;
    var y = function (v) { return top + plotH - (plotH * v) / max; };
    svg.appendChild(svgEl("line", { x1: left, x2: left + width, y1: top + plotH, y2: top + plotH, stroke: "#6b737d" }));
    svg.appendChild(svgEl("text", { x: left - 4, y: top + 10, "text-anchor": "end" }, fmt(max, 2)));
    svg.appendChild(svgEl("text", { x: left - 4, y: top + plotH, "text-anchor": "end" }, "0 ms"));
    [["mean_ms", "#0b57d0", "mean"], ["p95_ms", "#b3261e", "p95"]].forEach(function (spec) {
      var d = "";
      buckets.forEach(function (b, i) {
        if (!b.count || b[spec[0]] === null) return;
        d += (d ? " L" : "M") + (left + i * step).toFixed(1) + " " + y(b[spec[0]]).toFixed(1);
        var dot = svgEl("circle", { cx: left + i * step, cy: y(b[spec[0]]), r: 2.5, fill: spec[1], "class": "latency-point", "data-series": spec[2], "data-value": b[spec[0]], "data-start": b.start });
        dot.appendChild(svgEl("title", null, shortTime(b.start) + " " + spec[2] + ": " + fmt(b[spec[0]], 2) + " ms"));
        svg.appendChild(dot);
      });
      if (d) svg.appendChild(svgEl("path", { d: d, fill: "none", stroke: spec[1], "stroke-width": 1.5 }));
    });
    if (buckets.length) {
      svg.appendChild(svgEl("text", { x: left, y: height - 6 }, shortTime(buckets[0].start)));
      svg.appendChild(svgEl("text", { x: left + width, y: height - 6, "text-anchor": "end" }, shortTime(buckets[buckets.length - 1].start)));
    }
  }

  function drawConfidence(conf) {
    var W = 380, height = 160, left = 40, bottom = 22, top = 8, width = W - left - 8;
    var svg = chartFrame("confidence-chart", "Confidence of the predicted class: counts in ten bins from 0 to 1", W, height);
    var max = 1;
    conf.counts.forEach(function (n) { max = Math.max(max, n); });
    var plotH = height - top - bottom;
    var bw = width / conf.counts.length;
    conf.counts.forEach(function (n, i) {
      var h = (plotH * n) / max;
      var r = svgEl("rect", { x: left + i * bw + 1, y: top + plotH - h, width: bw - 2, height: h, fill: "#00677d", "class": "confidence-bar", "data-count": n });
      r.appendChild(svgEl("title", null, fmt(conf.edges[i], 1) + "–" + fmt(conf.edges[i + 1], 1) + ": " + n));
      svg.appendChild(r);
    });
    svg.appendChild(svgEl("text", { x: left, y: height - 6 }, "0"));
    svg.appendChild(svgEl("text", { x: left + width, y: height - 6, "text-anchor": "end" }, "1"));
    svg.appendChild(svgEl("text", { x: left - 4, y: top + 10, "text-anchor": "end" }, max));
  }

  // --- panels ---
  function figure(dl, name, value) {
    dl.appendChild(el("dt", null, name));
    dl.appendChild(el("dd", null, value));
  }

  function renderMetrics(m) {
    var model = m.model;
    $("model-name").textContent = model.name;
    $("model-version").textContent = model.version === null ? "unverified" : "v" + model.version;
    $("model-hash").textContent = model.content_sha256.slice(0, 12);
    var mm = m.model_metrics || {};
    var dl = $("model-figures");
    clear(dl);
    figure(dl, "accuracy (held-out)", fmt(mm.accuracy));
    figure(dl, "macro-F1 (held-out)", fmt(mm.macro_f1));
    figure(dl, "balanced accuracy", fmt(mm.balanced_accuracy));
    figure(dl, "log loss", fmt(mm.log_loss));
    var live = m.live;
    var ld = $("live-figures");
    clear(ld);
    figure(ld, "predictions", live.predictions_total);
    figure(ld, "live accuracy", live.feedback.accuracy === null ? "no feedback yet" : fmt(live.feedback.accuracy) + " (n " + live.feedback.n + ")");
    figure(ld, "live macro-F1", live.feedback.macro_f1 === null ? "–" : fmt(live.feedback.macro_f1));
    figure(ld, "latency p50 / p95", fmt(live.latency_ms.p50, 2) + " / " + fmt(live.latency_ms.p95, 2) + " ms");
    figure(ld, "mean confidence", fmt(live.confidence.mean));
    Object.keys(live.by_class).forEach(function (c) { figure(ld, "class " + c, live.by_class[c] + " (" + pct(live.class_share[c]) + ")"); });

    var ext = $("external-rows");
    clear(ext);
    if (!live.external.latest.length) {
      var tr = el("tr");
      tr.appendChild(el("td", { colspan: "4", "class": "empty" }, "none recorded (POST /monitoring/metrics)"));
      ext.appendChild(tr);
    }
    live.external.latest.forEach(function (x) {
      var tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, x.name));
      tr.appendChild(el("td", null, fmt(x.value, 4)));
      tr.appendChild(el("td", null, x.source));
      tr.appendChild(el("td", null, x.time.replace("T", " ").slice(0, 19)));
      ext.appendChild(tr);
    });

    var classes = Object.keys(live.by_class);
    drawClasses(live.timeseries, classes);
    drawLatency(live.timeseries);
    drawConfidence(live.confidence);
  }

  function renderPredictions(page) {
    var body = $("prediction-rows");
    clear(body);
    $("prediction-count").textContent = page.items.length + " newest of " + page.total + " kept";
    if (!page.items.length) {
      var tr = el("tr");
      tr.appendChild(el("td", { colspan: "6", "class": "empty" }, "no predictions yet"));
      body.appendChild(tr);
    }
    page.items.forEach(function (p) {
      var tr = el("tr", { "data-request-id": p.request_id });
      tr.appendChild(el("td", null, p.time.replace("T", " ").slice(0, 19)));
      tr.appendChild(el("td", null, p.request_id));
      tr.appendChild(el("td", null, p["class"]));
      tr.appendChild(el("td", null, fmt(p.confidence)));
      tr.appendChild(el("td", null, fmt(p.latency_ms, 2)));
      tr.appendChild(el("td", null, p.actual === null ? "–" : p.actual));
      body.appendChild(tr);
    });
  }

  function runLink(run) {
    var a = el("a", { href: run.url, rel: "noopener noreferrer", target: "_blank", "class": "run-link" }, "run " + (run.run_number || run.id));
    return a;
  }

  function renderStatus(s) {
    var box = $("pipeline-status");
    clear(box);
    if (!s.configured) {
      box.appendChild(el("p", null, "GitHub is not configured: " + (s.reason || "")));
      return;
    }
    var p = el("p");
    p.appendChild(document.createTextNode(s.repo + " · " + s.workflow + ": "));
    if (!s.run) p.appendChild(document.createTextNode("no runs yet"));
    else {
      p.appendChild(runLink(s.run));
      p.appendChild(document.createTextNode(" " + (s.run.status || "") + (s.run.conclusion ? " (" + s.run.conclusion + ")" : "") + (s.run.created_at ? ", started " + s.run.created_at.replace("T", " ").slice(0, 16) + " UTC" : "")));
    }
    box.appendChild(p);
  }

  function refresh() {
    return Promise.all([
      getJson("/monitoring/metrics").then(renderMetrics),
      getJson("/monitoring/drift").then(drawDrift),
      getJson("/monitoring/predictions?limit=20").then(renderPredictions),
      getJson("/monitoring/pipeline-status").then(renderStatus, function (e) { renderStatus({ configured: false, reason: e.message }); }),
    ]).then(function () {
      setStatus("Updated " + new Date().toISOString().slice(11, 19) + " UTC");
      document.body.setAttribute("data-loaded", String(Date.now()));
    }, function (e) {
      setStatus(e.status === 401 || e.status === 403 ? "This server needs an API key to show monitoring data: enter one above." : "Could not load: " + e.message, true);
    });
  }

  // --- API key for reading ---
  $("key-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = $("api-key").value.trim();
    if (v) sessionStorage.setItem(keyName, v); else sessionStorage.removeItem(keyName);
    $("api-key").value = "";
    refresh();
  });

  // --- Retrain ---
  var dialog = $("retrain-dialog");
  $("retrain").addEventListener("click", function () {
    $("admin-key").value = "";
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    $("admin-key").focus();
  });
  $("retrain-cancel").addEventListener("click", function () { dialog.close(); });
  $("retrain-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = $("admin-key").value;
    dialog.close();
    var out = $("retrain-result");
    clear(out);
    out.textContent = "Starting the training workflow…";
    fetch("/monitoring/run-pipeline", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + key }, body: "{}" })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (res) {
        clear(out);
        var b = res.body;
        if (res.status === 202) {
          out.appendChild(document.createTextNode("Training workflow started: "));
          var a = el("a", { href: b.url, rel: "noopener noreferrer", target: "_blank", id: "retrain-link" }, b.run ? "view the new run" : "the workflow's runs");
          out.appendChild(a);
        } else if (res.status === 409 && b.run) {
          out.appendChild(document.createTextNode("A training run is already " + (b.run.status || "running") + ": "));
          out.appendChild(el("a", { href: b.run.url, rel: "noopener noreferrer", target: "_blank", id: "retrain-link" }, "run " + (b.run.run_number || b.run.id)));
        } else {
          out.appendChild(el("span", { "class": "bad" }, "Not started (" + res.status + "): " + ((b.error && b.error.message) || "unexpected answer")));
        }
        return getJson("/monitoring/pipeline-status").then(renderStatus, function () {});
      }, function (e) {
        clear(out);
        out.appendChild(el("span", { "class": "bad" }, "Not started: " + e.message));
      });
  });

  refresh();
  setInterval(refresh, 5000);
})();
`;

const BODY = `
<header>
  <div>
    <h1>Model monitoring: <span id="model-name">…</span></h1>
    <p class="sub">version <strong id="model-version">…</strong> · content <code id="model-hash">…</code></p>
  </div>
  <form id="key-form" class="key-form" aria-label="API key for reading monitoring data">
    <label for="api-key">API key (if required)</label>
    <input id="api-key" type="password" autocomplete="off">
    <button type="submit" class="secondary">Use key</button>
  </form>
</header>
<main id="main">
  <p id="load-status" class="status" role="status" aria-live="polite">Loading…</p>
  <div class="grid">
    <section class="panel" aria-labelledby="h-model">
      <h2 id="h-model">Model</h2>
      <dl id="model-figures" class="figures"></dl>
    </section>
    <section class="panel" aria-labelledby="h-live">
      <h2 id="h-live">Live figures</h2>
      <dl id="live-figures" class="figures"></dl>
    </section>
    <section class="panel" aria-labelledby="h-pipeline">
      <h2 id="h-pipeline">Training pipeline</h2>
      <div id="pipeline-status"><p>…</p></div>
      <button id="retrain" type="button">Retrain</button>
      <p id="retrain-result" class="status" role="status" aria-live="polite"></p>
    </section>
    <section class="panel wide" aria-labelledby="h-drift">
      <h2 id="h-drift">Drift per feature</h2>
      <p><span id="drift-verdict" class="verdict">…</span> · <span id="drift-window"></span></p>
      <div id="drift-chart"></div>
      <details>
        <summary>Drift as a table</summary>
        <div class="table-scroll">
          <table>
            <caption class="sub">Statistic compared with the threshold of validate-data</caption>
            <thead><tr><th scope="col">feature</th><th scope="col">method</th><th scope="col">statistic</th><th scope="col">threshold</th><th scope="col">drifted</th></tr></thead>
            <tbody id="drift-rows"></tbody>
          </table>
        </div>
      </details>
    </section>
    <section class="panel" aria-labelledby="h-classes">
      <h2 id="h-classes">Class distribution over time</h2>
      <div id="class-chart"></div>
      <ul id="class-legend" class="legend" aria-label="Classes"></ul>
    </section>
    <section class="panel" aria-labelledby="h-latency">
      <h2 id="h-latency">Latency over time</h2>
      <div id="latency-chart"></div>
      <ul class="legend" aria-label="Series">
        <li><span class="swatch swatch-mean" aria-hidden="true"></span>mean</li>
        <li><span class="swatch swatch-p95" aria-hidden="true"></span>95th percentile</li>
      </ul>
    </section>
    <section class="panel" aria-labelledby="h-confidence">
      <h2 id="h-confidence">Confidence</h2>
      <div id="confidence-chart"></div>
    </section>
    <section class="panel" aria-labelledby="h-external">
      <h2 id="h-external">Recorded metrics</h2>
      <div class="table-scroll">
        <table>
          <thead><tr><th scope="col">metric</th><th scope="col">value</th><th scope="col">source</th><th scope="col">time (UTC)</th></tr></thead>
          <tbody id="external-rows"></tbody>
        </table>
      </div>
    </section>
    <section class="panel wide" aria-labelledby="h-predictions">
      <h2 id="h-predictions">Recent predictions</h2>
      <p id="prediction-count" class="sub"></p>
      <div class="table-scroll">
        <table>
          <thead><tr><th scope="col">time (UTC)</th><th scope="col">request id</th><th scope="col">class</th><th scope="col">confidence</th><th scope="col">latency (ms)</th><th scope="col">actual</th></tr></thead>
          <tbody id="prediction-rows"></tbody>
        </table>
      </div>
    </section>
  </div>
</main>
<footer><p>Data from /monitoring/*; refreshed every 5 s.</p></footer>
<dialog id="retrain-dialog" aria-labelledby="retrain-title">
  <form id="retrain-form" method="dialog">
    <h2 id="retrain-title">Start the training workflow</h2>
    <p>Retraining is an admin action. The key is sent once with this request and not stored.</p>
    <label for="admin-key">Admin API key</label>
    <input id="admin-key" type="password" autocomplete="off" required>
    <div class="row">
      <button type="button" id="retrain-cancel" class="secondary">Cancel</button>
      <button type="submit" id="retrain-confirm">Start run</button>
    </div>
  </form>
</dialog>
`;

const LEGEND_STYLE = `.swatch-mean { background: #0b57d0; } .swatch-p95 { background: #b3261e; }`;

function sha256Base64(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("base64");
}

/** The page and its Content-Security-Policy (hashes of the one inline style and script). */
export function dashboardPage(): { html: string; csp: string } {
  const style = STYLE + LEGEND_STYLE;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model monitoring</title>
<style>${style}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `style-src 'sha256-${sha256Base64(style)}'`,
    `script-src 'sha256-${sha256Base64(SCRIPT)}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}

/** GET /dashboard. The page holds no data (it fetches the monitoring endpoints), so it needs no key. */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const page = dashboardPage();
  app.get("/dashboard", async (_request, reply) =>
    reply
      .header("content-type", "text/html; charset=utf-8")
      .header("content-security-policy", page.csp)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("cache-control", "no-cache")
      .send(page.html),
  );
};
