// Escalator's Zendesk sidebar: live countdowns, and a refresh of the escalation JSON with the page's session.
// Plain browser JavaScript, no library. It draws the same structure as templates/sidebar.html.
(function () {
  "use strict";

  var root = document.getElementById("escalator");
  if (!root) {
    return;
  }
  var session = root.getAttribute("data-session");
  var api = root.getAttribute("data-api");
  var placeholder = root.getAttribute("data-placeholder");
  var ticket = root.getAttribute("data-ticket");
  var refreshMs = (parseInt(root.getAttribute("data-refresh"), 10) || 60) * 1000;
  var timer = null;

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

  function time(iso) {
    var element = node("time", null, iso);
    element.setAttribute("datetime", iso);
    return element;
  }

  function countdown(iso) {
    var element = node("span", "countdown");
    element.setAttribute("data-due", iso);
    return element;
  }

  function span(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    var parts = [];
    if (d) { parts.push(d + "d"); }
    if (h || d) { parts.push(h + "h"); }
    parts.push((m < 10 && (h || d) ? "0" : "") + m + "m");
    parts.push((s % 60 < 10 ? "0" : "") + (s % 60) + "s");
    return parts.join(" ");
  }

  function tick() {
    var now = Date.now();
    var items = root.querySelectorAll("[data-due]");
    for (var i = 0; i < items.length; i++) {
      var left = (Date.parse(items[i].getAttribute("data-due")) - now) / 1000;
      items[i].textContent = left >= 0 ? "in " + span(left) : span(left) + " ago";
      items[i].className = left >= 0 ? "countdown" : "countdown overdue";
    }
    var times = root.querySelectorAll("time[datetime]");
    for (var j = 0; j < times.length; j++) {
      var when = new Date(times[j].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        times[j].textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
        times[j].title = times[j].getAttribute("datetime");
      }
    }
  }

  function section(title, list) {
    var element = node("section");
    element.appendChild(node("h2", null, title));
    element.appendChild(list);
    return element;
  }

  function where(data) {
    var element = node("section", "where");
    var heading = node("h1", null, data.team || data.tier || "No tier");
    if (data.escalated) {
      heading.appendChild(document.createTextNode(" "));
      heading.appendChild(node("span", "badge up", "escalated"));
    }
    element.appendChild(heading);
    var facts = node("dl");
    [["Tier", data.tier], ["Team", data.team], ["Group", data.group], ["Assignee", data.assignee],
     ["Owner", data.owner], ["Bounces", data.bounces]].forEach(function (pair) {
      facts.appendChild(node("dt", null, pair[0]));
      facts.appendChild(node("dd", null, pair[1] === null || pair[1] === undefined || pair[1] === "" ? "—" : pair[1]));
    });
    element.appendChild(facts);
    return element;
  }

  function clocks(data) {
    var list = node("ul", "clocks");
    data.clocks.forEach(function (clock) {
      var item = node("li", "clock" + (clock.breached ? " breached" : "") + (clock.paused ? " paused" : ""));
      item.appendChild(node("span", "metric", clock.metric.replace(/_/g, " ")));
      if (clock.due) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(time(clock.due));
        item.appendChild(document.createTextNode(" "));
        item.appendChild(countdown(clock.due));
      }
      if (clock.paused) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(node("span", "badge", "paused"));
      }
      if (clock.breached) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(node("span", "badge alert", "breached"));
      }
      list.appendChild(item);
    });
    if (!data.clocks.length) {
      list.appendChild(node("li", "muted", "No SLA clock running."));
    }
    return section("SLA", list);
  }

  function next(data) {
    var list = node("ol", "next");
    data.next.forEach(function (step) {
      var item = node("li");
      item.appendChild(time(step.at));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(countdown(step.at));
      item.appendChild(node("div", "what", step.what));
      list.appendChild(item);
    });
    if (!data.next.length) {
      list.appendChild(node("li", "muted", "Nothing scheduled."));
    }
    return section("Next", list);
  }

  function trail(data) {
    var list = node("ol", "trail");
    data.escalations.forEach(function (move) {
      var item = node("li");
      item.appendChild(time(move.at));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(node("strong", null, (move.from || "—") + " → " + move.to));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(node("span", "by", "by " + (move.by === "rule" ? "rule " + move.rule : "an agent")));
      if (move.reason) {
        item.appendChild(node("div", "reason", move.reason));
      }
      list.appendChild(item);
    });
    if (!data.escalations.length) {
      list.appendChild(node("li", "muted", "Not escalated."));
    }
    return section("Escalation trail", list);
  }

  function show(parts) {
    while (root.firstChild) {
      root.removeChild(root.firstChild);
    }
    parts.forEach(function (part) { root.appendChild(part); });
    tick();
  }

  function say(text) {
    show([node("p", "muted", text)]);
  }

  function stop(text) {
    if (timer !== null) {
      clearInterval(timer);
      timer = null;
    }
    say(text);
  }

  function load() {
    var url = api.replace(placeholder, encodeURIComponent(ticket));
    fetch(url, { headers: { Authorization: "Bearer " + session }, cache: "no-store", credentials: "omit" })
      .then(function (response) {
        var renewed = response.headers.get("X-Escalator-Session");
        if (renewed) {
          session = renewed;
        }
        if (response.status === 401) {
          stop("This view has expired: reopen the ticket to refresh it.");
          return null;
        }
        if (response.status === 404) {
          say("Escalator has no record of this ticket yet.");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data) {
          show([where(data), clocks(data), next(data), trail(data)]);
        }
      })
      .catch(function () {
        // Keep what is shown (its countdowns keep running); the next refresh tries again.
      });
  }

  function start(id, fetchNow) {
    ticket = String(id);
    if (fetchNow) {
      load();
    }
    timer = setInterval(load, refreshMs);
  }

  setInterval(tick, 1000);
  tick();
  if (ticket) {
    start(ticket, root.getAttribute("data-rendered") !== "yes");
  } else if (window.ZAFClient) {
    var client = window.ZAFClient.init();
    client.get("ticket.id").then(function (answer) {
      start(answer["ticket.id"], true);
    });
  } else {
    say("Open this app from a ticket in Zendesk.");
  }
})();
