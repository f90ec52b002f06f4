// Escalator's admin dashboard: KPI charts over time (Chart.js, shipped in static/vendor/chartjs) and the live
// state, all read from /api/admin/... with the page's session cookie; dead letters are replayed with a POST
// carrying the session's CSRF token. Plain browser JavaScript; the page (templates/dashboard.html) holds no data.
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root) {
    return;
  }
  var api = root.getAttribute("data-api");
  var csrf = root.getAttribute("data-csrf");
  var csrfHeader = root.getAttribute("data-csrf-header");
  var tenants = JSON.parse(root.getAttribute("data-tenants") || "[]");
  var refreshMs = (parseInt(root.getAttribute("data-refresh"), 10) || 15) * 1000;
  var statusLine = document.getElementById("status");
  var rangeSelect = document.getElementById("range");
  var tenantSelect = document.getElementById("tenant");
  var charts = {};
  var state = { tenant: null, days: parseInt(root.getAttribute("data-range"), 10) || 30, kpiLoaded: false, liveLoaded: false };

  var COLORS = {
    rule: "#1f6f8b",
    agent: "#e08a2c",
    rate: "#5b3f8c",
    bounced: "#cc3340",
    median: "#1f6f8b",
    p90: "#9fc3d1",
    first_response: "#1f6f8b",
    next_response: "#e08a2c",
    resolution: "#2f8a4c",
    other: ["#5b3f8c", "#cc3340", "#7a8b2c", "#2c7a6e"]
  };
  var METRIC_NAMES = { first_response: "First response", next_response: "Next response", resolution: "Resolution" };

  // --- small helpers -----------------------------------------------------------------------------------------

  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) {
      element.className = className;
    }
    if (text !== undefined && text !== null) {
      element.textContent = String(text);
    }
    return element;
  }

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = text;
    }
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + " %";
  }

  function hours(value) {
    return value === null || value === undefined ? "–" : value.toFixed(1) + " h";
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  function shortDay(day) {
    if (day === isoDay(new Date())) {
      return "today (so far)";
    }
    var date = new Date(day + "T00:00:00Z");
    return date.toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" });
  }

  // The current UTC day is still filling up: its rates rest on a few tickets and swing wildly. The line into
  // it is dashed and the axis says "today (so far)", so a partial day is not read as a collapse.
  var PARTIAL_DAY = {
    borderDash: function (context) {
      var labels = context.chart.data.labels;
      return labels[context.p1DataIndex] === isoDay(new Date()) ? [4, 4] : undefined;
    }
  };

  function say(text, problem) {
    statusLine.textContent = text;
    statusLine.className = problem ? "problem" : "muted";
  }

  function request(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers[csrfHeader] = csrf;
      options.body = JSON.stringify(body);
    }
    return fetch(api + path, options).then(function (response) {
      if (response.status === 401) {
        say("Your session has ended: reload the page to log in again.", true);
        throw new Error("session ended");
      }
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error(data.error || "HTTP " + response.status);
        }
        return data;
      });
    });
  }

  function tenantPath(suffix) {
    return "/tenants/" + encodeURIComponent(state.tenant) + suffix;
  }

  function markReady() {
    if (state.kpiLoaded && state.liveLoaded) {
      root.setAttribute("data-ready", "yes");
    }
  }

  // --- charts ------------------------------------------------------------------------------------------------

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  Chart.defaults.color = "#49545c";
  Chart.defaults.plugins.legend.labels.boxWidth = 12;

  function draw(id, config) {
    if (charts[id]) {
      charts[id].destroy();
    }
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function dayAxis(labels) {
    return {
      type: "category",
      labels: labels,
      ticks: {
        autoSkip: true,
        maxTicksLimit: 12,
        maxRotation: 0,
        callback: function (value) {
          return shortDay(labels[value]);
        }
      },
      grid: { display: false }
    };
  }

  function percentAxis(position, title, upTo100) {
    return {
      position: position,
      beginAtZero: !upTo100,
      max: upTo100 ? 100 : undefined,
      title: { display: true, text: title },
      ticks: { callback: function (value) { return value + " %"; } },
      grid: { drawOnChartArea: position === "left" }
    };
  }

  function countAxis(title) {
    return { position: "left", beginAtZero: true, title: { display: true, text: title }, ticks: { precision: 0 } };
  }

  function rate(value) {
    return value === null || value === undefined ? null : Math.round(value * 1000) / 10;
  }

  function drawEscalations(series) {
    var labels = series.map(function (row) { return row.day; });
    draw("chart-escalations", {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: "by rules", data: series.map(function (row) { return row.escalations_by_actor.rule; }),
            backgroundColor: COLORS.rule, stack: "escalations", yAxisID: "y" },
          { label: "by agents", data: series.map(function (row) { return row.escalations_by_actor.agent; }),
            backgroundColor: COLORS.agent, stack: "escalations", yAxisID: "y" },
          { label: "escalation rate", type: "line", data: series.map(function (row) { return rate(row.escalation_rate); }),
            borderColor: COLORS.rate, backgroundColor: COLORS.rate, pointRadius: 0, borderWidth: 1.5, yAxisID: "y1",
            spanGaps: true, tension: 0.2, segment: PARTIAL_DAY }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: { x: dayAxis(labels), y: countAxis("escalations"), y1: percentAxis("right", "escalation rate") }
      }
    });
  }

  function drawSla(series) {
    var labels = series.map(function (row) { return row.day; });
    var metrics = [];
    series.forEach(function (row) {
      Object.keys(row.sla || {}).forEach(function (metric) {
        if (metrics.indexOf(metric) < 0) {
          metrics.push(metric);
        }
      });
    });
    metrics.sort();
    draw("chart-sla", {
      type: "line",
      data: {
        labels: labels,
        datasets: metrics.map(function (metric, index) {
          var color = COLORS[metric] || COLORS.other[index % COLORS.other.length];
          return {
            label: METRIC_NAMES[metric] || metric,
            data: series.map(function (row) { return row.sla && row.sla[metric] ? rate(row.sla[metric].attainment) : null; }),
            borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 1.5, spanGaps: true, tension: 0.2,
            segment: PARTIAL_DAY
          };
        })
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: { x: dayAxis(labels), y: percentAxis("left", "met", true) }
      }
    });
  }

  function drawTiers(report) {
    var units = Object.keys(report.time_in_tier_hours || {});
    draw("chart-tiers", {
      type: "bar",
      data: {
        labels: units,
        datasets: [
          { label: "median", data: units.map(function (u) { return report.time_in_tier_hours[u].median; }),
            backgroundColor: COLORS.median },
          { label: "90th percentile", data: units.map(function (u) { return report.time_in_tier_hours[u].p90; }),
            backgroundColor: COLORS.p90 }
        ]
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "hours" } }, x: { grid: { display: false } } } }
    });
  }

  function drawBounces(series) {
    var labels = series.map(function (row) { return row.day; });
    draw("chart-bounces", {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: "bounced tickets", data: series.map(function (row) { return row.bounced_tickets; }),
            backgroundColor: COLORS.bounced, yAxisID: "y" },
          { label: "bounce rate", type: "line", data: series.map(function (row) { return rate(row.bounce_rate); }),
            borderColor: COLORS.rate, backgroundColor: COLORS.rate, pointRadius: 0, borderWidth: 1.5, yAxisID: "y1",
            spanGaps: true, tension: 0.2, segment: PARTIAL_DAY }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: { x: dayAxis(labels), y: countAxis("tickets"), y1: percentAxis("right", "of tickets moved") }
      }
    });
  }

  function drawRanking(id, counts, color, rename) {
    var names = Object.keys(counts || {}).sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); });
    draw(id, {
      type: "bar",
      data: {
        labels: names.map(function (name) { return rename ? rename(name) : name; }),
        datasets: [{ label: "escalations", data: names.map(function (name) { return counts[name]; }), backgroundColor: color }]
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } }
      }
    });
  }

  // --- the KPI report ----------------------------------------------------------------------------------------

  function summary(report) {
    setText("k-tickets", report.tickets);
    setText("k-escalated", report.escalated);
    setText("k-escalation-rate", percent(report.escalation_rate) + " of tickets");
    setText("k-actors", report.escalations_by_actor.rule + " / " + report.escalations_by_actor.agent);
    setText("k-bounced", report.bounced_tickets);
    setText("k-bounce-rate", percent(report.bounce_rate) + " of tickets moved");
    setText("k-resolution", hours(report.escalated_resolution_hours.median));
    setText("k-resolution-p90", "median; p90 " + hours(report.escalated_resolution_hours.p90));
    var card = document.getElementById("k-sla");
    var list = node("div", "sla");
    var metrics = Object.keys(report.sla || {}).sort();
    metrics.forEach(function (metric) {
      var attainment = report.sla[metric].attainment;
      list.appendChild(node("span", null, METRIC_NAMES[metric] || metric));
      list.appendChild(node("span", attainment !== null && attainment < 0.9 ? "poor" : "good", percent(attainment)));
    });
    if (!metrics.length) {
      list.appendChild(node("span", "muted", "no SLA clock finished"));
    }
    card.replaceChildren(node("span", "label", "SLA attainment"), list);
  }

  function loadKpis() {
    var until = new Date();
    var since = new Date(until.getTime() - (state.days - 1) * 86400000);
    var query = "?since=" + isoDay(since) + "&until=" + isoDay(until);
    say("Loading " + state.tenant + "…");
    return request("GET", tenantPath("/kpis") + query).then(function (report) {
      summary(report);
      drawEscalations(report.series);
      drawSla(report.series);
      drawTiers(report);
      drawBounces(report.series);
      drawRanking("chart-rules", report.escalations_by_rule, COLORS.rule, function (name) {
        return name === "agent" ? "(agents)" : name;
      });
      drawRanking("chart-targets", report.escalations_by_target, COLORS.agent);
      say(state.tenant + ": " + report.since + " to " + report.until + " (UTC days)");
      state.kpiLoaded = true;
      markReady();
    });
  }

  // --- the live state ----------------------------------------------------------------------------------------

  function cell(row, text, className) {
    row.appendChild(node("td", className, text));
  }

  function drawBacklog(live) {
    var body = document.querySelector("#backlog tbody");
    var rows = live.tenants.map(function (tenant) {
      var row = node("tr");
      cell(row, tenant.name + (tenant.vendor ? " (" + tenant.vendor + ")" : ""));
      cell(row, tenant.ready, "count");
      cell(row, tenant.processing, "count");
      cell(row, tenant.dead, "count" + (tenant.dead ? " nonzero" : ""));
      cell(row, tenant.timers, "count");
      return row;
    });
    body.replaceChildren.apply(body, rows);
    var states = Object.keys(live.workers || {});
    var total = states.reduce(function (sum, name) { return sum + live.workers[name]; }, 0);
    var workers = document.getElementById("workers");
    if (total) {
      workers.textContent = "Workers: " + states.map(function (name) { return live.workers[name] + " " + name; }).join(", ");
      workers.className = "muted small";
    } else {
      workers.textContent = "No worker is registered: events wait until `escalator worker` runs.";
      workers.className = "problem small";
    }
    setText("live-at", "as of " + live.at);
  }

  function replayButton(label, tickets, enabled) {
    var button = node("button", null, label);
    button.type = "button";
    button.disabled = !enabled;
    button.addEventListener("click", function () {
      button.disabled = true;
      replay(tickets);
    });
    return button;
  }

  function drawDeadLetters(data) {
    setText("dead-count", data.count ? "(" + data.count + ")" : "(none)");
    var body = document.querySelector("#dead-letters tbody");
    var rows = data.dead_letters.map(function (letter) {
      var row = node("tr");
      cell(row, letter.ticket_id);
      cell(row, letter.kind || "?");
      cell(row, letter.buried_at || "–");
      cell(row, letter.attempts === null ? "–" : letter.attempts);
      var error = node("td", "error", letter.error.length > 300 ? letter.error.slice(0, 300) + "…" : letter.error);
      error.title = letter.error;
      row.appendChild(error);
      var action = node("td");
      action.appendChild(replayButton("Replay", [letter.ticket_id], letter.replayable));
      row.appendChild(action);
      return row;
    });
    if (!rows.length) {
      var empty = node("tr", "empty");
      var only = node("td", null, "No dead letters: every event was applied.");
      only.colSpan = 6;
      empty.appendChild(only);
      rows = [empty];
    }
    body.replaceChildren.apply(body, rows);
    var replayable = data.dead_letters.some(function (letter) { return letter.replayable; });
    var all = document.getElementById("replay-all");
    var fresh = replayButton("Replay all", [], replayable);
    fresh.id = "replay-all";
    all.replaceWith(fresh);
  }

  function replay(tickets) {
    var which = tickets.length ? "ticket " + tickets.join(", ") : "all tickets";
    return request("POST", tenantPath("/dead-letters/replay"), { tickets: tickets })
      .then(function (answer) {
        say("Replayed " + answer.replayed + " event(s) of " + which + (answer.woken ? "; a worker picks them up." : "."));
        return loadLive();
      })
      .catch(function (error) {
        say("Replay failed: " + error.message, true);
      });
  }

  function loadLive() {
    return Promise.all([request("GET", "/live"), request("GET", tenantPath("/dead-letters"))]).then(function (answers) {
      drawBacklog(answers[0]);
      drawDeadLetters(answers[1]);
      state.liveLoaded = true;
      markReady();
    });
  }

  // --- wiring ------------------------------------------------------------------------------------------------

  function fail(error) {
    if (error.message !== "session ended") {
      say("Could not load: " + error.message, true);
    }
  }

  function reload() {
    root.removeAttribute("data-ready");
    state.kpiLoaded = state.liveLoaded = false;
    return Promise.all([loadKpis(), loadLive()]).catch(fail);
  }

  function chooseTenant() {
    var names = tenants.map(function (tenant) { return tenant.name; });
    var wanted = decodeURIComponent((window.location.hash.match(/tenant=([^&]+)/) || [])[1] || "");
    state.tenant = names.indexOf(wanted) >= 0 ? wanted : names[0];
    if (names.length > 1) {
      names.forEach(function (name) {
        var option = node("option", null, name);
        option.value = name;
        option.selected = name === state.tenant;
        tenantSelect.appendChild(option);
      });
      tenantSelect.addEventListener("change", function () {
        state.tenant = tenantSelect.value;
        window.location.hash = "tenant=" + encodeURIComponent(state.tenant);
        reload();
      });
    } else {
      document.getElementById("tenant-picker").hidden = true;
      setText("tenant-single", state.tenant ? "Tenant " + state.tenant : "No tenant is configured");
    }
  }

  chooseTenant();
  if (!state.tenant) {
    say("No tenant is configured.", true);
    return;
  }
  rangeSelect.addEventListener("change", function () {
    state.days = parseInt(rangeSelect.value, 10);
    root.removeAttribute("data-ready");
    state.kpiLoaded = false;
    loadKpis().catch(fail);
  });
  reload();
  window.setInterval(function () {
    if (!document.hidden) {
      loadLive().catch(fail);
    }
  }, refreshMs);
})();
