// The auditor's view: charts drawn from server-aggregated series, and verification of a dropped invoice.
// No framework, nothing loaded from outside this machine.
(function () {
  "use strict";

  function axisTime(u, splits) {
    return splits.map(function (s) { return new Date(s * 1000).toISOString().slice(5, 16).replace("T", " "); });
  }

  // An axis as wide as its longest label (uPlot's default is a fixed 50 px, which cut "75,000" to "5,000").
  function fitSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1) { return axis._size; }
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, v) { return String(v).length > a.length ? String(v) : a; }, "");
    if (longest) { u.ctx.font = axis.font[0]; size += u.ctx.measureText(longest).width / (window.devicePixelRatio || 1); }
    return Math.ceil(size) + 4;
  }

  function number(u, splits) { return splits.map(function (v) { return v === null ? "" : v.toLocaleString("en"); }); }

  function plot(el, title, times, series, extra) {
    if (!el || !window.uPlot) { return; }
    var data = [times];
    var opts = {
      width: Math.max(200, el.clientWidth || 360), height: 200, title: title,
      scales: { x: { time: false } },
      axes: [{ values: axisTime, space: 90, size: 44 }, { values: number, size: fitSize }],
      series: [{}],
      hooks: extra && extra.hooks ? extra.hooks : {},
    };
    series.forEach(function (s) {
      data.push(s.values);
      opts.series.push({ label: s.label, stroke: s.color, width: s.width || 2, dash: s.dash, paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined });
    });
    el.innerHTML = "";
    var made = new uPlot(opts, data, el);
    window.meteringPlots = (window.meteringPlots || []).filter(function (u) { return document.body.contains(u.root); });
    window.meteringPlots.push(made);  // for the browser tests' checks of axes and labels
    return made;
  }

  function flat(times, value) { return times.map(function () { return value; }); }

  function denialMarks(denials) {
    return {
      draw: [function (u) {
        var ctx = u.ctx;
        denials.forEach(function (d) {
          if (d.time === null) { return; }
          var x = u.valToPos(d.time, "x", true);
          ctx.save(); ctx.strokeStyle = "#b42318"; ctx.setLineDash([3, 3]);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          ctx.fillStyle = "#b42318"; ctx.font = 10 * (window.devicePixelRatio || 1) + "px sans-serif";
          // the label goes on whichever side of the line has room, so it is never cut at the plot's edge
          var w = ctx.measureText(d.reason).width, gap = 3 * (window.devicePixelRatio || 1);
          var right = x + gap + w <= u.bbox.left + u.bbox.width;
          ctx.textAlign = right ? "left" : "right";
          ctx.fillText(d.reason, right ? x + gap : x - gap, u.bbox.top + 12 * (window.devicePixelRatio || 1));
          ctx.restore();
        });
      }],
    };
  }

  window.meteringCharts = function (data) {
    var amount = data.amount;
    var money = amount.total.map(function (v) { return v / data.scale; });
    var amountSeries = [{ label: "billed (" + data.currency + ")", values: money, color: "#2457c5" }];
    if (amount.cap) { amountSeries.push({ label: "cap", values: flat(amount.times, amount.cap / data.scale), color: "#b42318", dash: [6, 4] }); }
    plot(document.getElementById("chart-amount"), "", amount.times, amountSeries);
    data.types.forEach(function (t) {
      var marks = { hooks: denialMarks(t.denials) };
      var running = [{ label: "running", values: t.running, color: "#2457c5", step: true }];
      if (t.max_concurrent) { running.push({ label: "limit", values: flat(t.times, t.max_concurrent), color: "#b42318", dash: [6, 4] }); }
      plot(document.getElementById("chart-running-" + t.type), "", t.times, running, marks);
      var seconds = [{ label: "seconds run", values: t.seconds, color: "#0f7b3d" }];
      if (t.included_seconds) { seconds.push({ label: "included", values: flat(t.times, t.included_seconds), color: "#6b7280", dash: [6, 4] }); }
      plot(document.getElementById("chart-seconds-" + t.type), "", t.times, seconds);
      var acts = [{ label: "activations", values: t.activations, color: "#a15c00", step: true }];
      if (t.included_activations) { acts.push({ label: "included", values: flat(t.times, t.included_activations), color: "#6b7280", dash: [6, 4] }); }
      if (t.max_activations) { acts.push({ label: "limit", values: flat(t.times, t.max_activations), color: "#b42318", dash: [6, 4] }); }
      plot(document.getElementById("chart-activations-" + t.type), "", t.times, acts, marks);
    });
  };

  function show(result) {
    var box = document.getElementById("drop-result");
    box.innerHTML = "";
    var head = document.createElement("p");
    head.className = result.ok ? "ok verified" : "bad not-verified";
    head.textContent = result.ok ? "✔ verified: recomputed from the chain, counters and anchor agree"
      : "✘ NOT verified" + (result.error ? ": " + result.error : "") + (result.differences && result.differences.length ? " (" + result.differences.length + " difference(s))" : "");
    box.appendChild(head);
    (result.differences || []).forEach(function (d) {
      var p = document.createElement("p");
      p.className = "diff bad";
      p.textContent = d.where + ": expected " + JSON.stringify(d.expected) + ", found " + JSON.stringify(d.found);
      box.appendChild(p);
    });
  }

  function verify(file) {
    var reader = new FileReader();
    reader.onload = function () {
      fetch("/api/verify", { method: "POST", headers: { "Content-Type": "application/json" }, body: reader.result })
        .then(function (r) { return r.json(); }).then(show)
        .catch(function (e) { show({ ok: false, error: String(e), differences: [] }); });
    };
    reader.readAsText(file);
  }

  // ---- live pages: /live says when the indexed chain moved; the page fetches itself and swaps its content.
  // On a dropped connection the content stays, the marker says "reconnecting", and EventSource reconnects by itself
  // (the server's retry), sending Last-Event-ID: a head that moved meanwhile is announced at once.
  function live() {
    var body = document.body, marker = document.getElementById("live");
    if (!body.dataset.live || !window.EventSource || !marker) { return; }
    var shown = body.dataset.live, busy = false, wanted = null;
    function mark(state, text) { marker.className = "live " + state; marker.textContent = text; }
    function refresh(head) {
      if (busy) { wanted = head; return; }
      busy = true;
      fetch(window.location.href, { headers: { "X-Live": "1" }, cache: "no-store" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("content"), content = document.getElementById("content");
          if (fresh && content) { content.innerHTML = fresh.innerHTML; }
          shown = (doc.body && doc.body.dataset.live) || head;
          body.dataset.live = shown;
          var charts = document.getElementById("charts-data");
          if (charts && window.meteringCharts) { window.meteringCharts(JSON.parse(charts.textContent)); }
          marker.title = "updated " + new Date().toISOString().slice(0, 19) + "Z";
        })
        .catch(function () { mark("stale", "live (update failed)"); })
        .then(function () { busy = false; if (wanted && wanted !== shown) { var w = wanted; wanted = null; refresh(w); } });
    }
    var source = null;
    function connect() {
      source = new EventSource("/live");
      source.addEventListener("open", function () { mark("on", "● live"); });
      source.addEventListener("error", function () { mark("off", "reconnecting…"); });
      source.addEventListener("head", function (e) { mark("on", "● live"); if (e.lastEventId !== shown) { refresh(e.lastEventId); } });
    }
    // A page left for another is closed, or its stream would hold one of the browser's six connections to this
    // server while the page sits in the back/forward cache (the seventh page would then never load).
    window.addEventListener("pagehide", function () { if (source) { source.close(); source = null; } });
    window.addEventListener("pageshow", function (e) { if (e.persisted && !source) { mark("connecting", "connecting…"); connect(); } });
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    live();
    var zone = document.getElementById("drop");
    var input = document.getElementById("drop-file");
    if (!zone) { return; }
    ["dragenter", "dragover"].forEach(function (n) { zone.addEventListener(n, function (e) { e.preventDefault(); zone.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (n) { zone.addEventListener(n, function (e) { e.preventDefault(); zone.classList.remove("over"); }); });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer.files.length) { verify(e.dataTransfer.files[0]); } });
    input.addEventListener("change", function () { if (input.files.length) { verify(input.files[0]); } });
  });
})();
