/* broadcast-scheduler public pages: times in the viewer's zone, live status without reload.
   The page is complete without this script; it only adds the viewer's own time, counts
   down, and follows the status stream (SSE) and the clock. No dependencies. */
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var skew = 0; // the server's clock minus ours, in ms, from the status stream
  var known = false; // states have been computed once (changes after that are announced)
  var LABELS = { upcoming: "Upcoming", live: "Live", ended: "Ended", cancelled: "Cancelled" };
  var SAID = { live: "is live now", ended: "has ended", cancelled: "was cancelled",
    upcoming: "is upcoming again", over: "is running over" };
  var viewerZone = "";
  try { viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}

  function now() { return Date.now() + skew; }
  function when(text) { return text ? Date.parse(text) : null; }
  function all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function format(options, zone) {
    var o = {};
    for (var k in options) o[k] = options[k];
    if (zone) o.timeZone = zone;
    return new Intl.DateTimeFormat(undefined, o);
  }
  var HM = { hour: "2-digit", minute: "2-digit" };
  var DAY = { weekday: "long", day: "numeric", month: "long", year: "numeric" };
  function city(zone) { return zone.split("/").pop().replace(/_/g, " "); }
  function dayKey(date, zone) {
    var o = { year: "numeric", month: "2-digit", day: "2-digit" };
    if (zone) o.timeZone = zone;
    return new Intl.DateTimeFormat("en-CA", o).format(date);
  }
  function range(start, end, zone) {
    var f = format(HM, zone);
    var days = Math.round((Date.parse(dayKey(end, zone)) - Date.parse(dayKey(start, zone))) / 864e5);
    return f.format(start) + "–" + f.format(end) + (days ? " +" + days : "");
  }

  /* each <time data-zone>: the viewer's time first, the event's own beside it */
  function localTimes() {
    all("time[data-zone]").forEach(function (el) {
      var zone = el.getAttribute("data-zone");
      var start = new Date(el.getAttribute("datetime")), end = new Date(el.getAttribute("data-end"));
      var own = range(start, end, zone), mine = range(start, end);
      var sameDay = dayKey(start, zone) === dayKey(start);
      if (own === mine && sameDay) return; // the viewer's wall clock is the event's
      var main = el.querySelector(".w-main"), second = el.querySelector(".w-own");
      var text = mine + " your time" + (viewerZone ? " (" + city(viewerZone) + ")" : "");
      if (el.hasAttribute("data-with-date")) text = format(DAY).format(start) + ", " + text;
      main.textContent = text;
      var ownText = own + " " + city(zone);
      if (!sameDay) ownText = format({ weekday: "short" }, zone).format(start) + " " + ownText;
      second.textContent = "";
      var sep = document.createElement("span");
      sep.className = "sep";
      sep.textContent = " · ";
      second.appendChild(sep);
      second.appendChild(document.createTextNode(ownText + " · " + el.getAttribute("data-length")));
    });
  }

  /* the lifecycle rules of scheduler/status.py */
  function stateOf(el) {
    var d = el.dataset, t = now();
    if (d.status === "cancelled") return { state: "cancelled" };
    if (d.actualEnd) return { state: "ended" };
    if (d.actualStart) return { state: "live", over: t >= when(d.end) };
    if (t < when(d.start)) return { state: "upcoming" };
    if (t < when(d.end)) return { state: "live" };
    return { state: "ended" };
  }
  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    s = s % 60;
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + (m < 10 ? "0" : "") + m + " min";
    if (m) return m + " min " + (s < 10 ? "0" : "") + s + " s";
    return s + " s";
  }
  function countdown(el, st) {
    var t = now(), d = el.dataset;
    if (st.state === "upcoming") return "Starts in " + span(when(d.start) - t);
    if (st.state === "live" && st.over) return "Running over by " + span(t - when(d.end));
    if (st.state === "live") return "Ends in " + span(when(d.end) - t);
    if (st.state === "ended") return "Ended " + span(t - when(d.actualEnd || d.end)) + " ago";
    return "It will not be streamed";
  }
  function items() { return all("[data-event-id]"); }

  /* live, then upcoming by the viewer's day, then recently ended */
  function arrange() {
    var liveSection = document.querySelector('[data-section="live"]');
    if (!liveSection) return;
    var upcoming = document.querySelector('[data-section="upcoming"]');
    var ended = document.querySelector('[data-section="ended"]');
    var focused = document.activeElement;
    var list = items().sort(function (a, b) { return when(a.dataset.start) - when(b.dataset.start); });
    var live = [], coming = [], gone = [];
    list.forEach(function (el) {
      var s = el.getAttribute("data-state");
      if (s === "live") live.push(el);
      else if (s === "upcoming" || (s === "cancelled" && when(el.dataset.start) > now())) coming.push(el);
      else gone.push(el);
    });
    gone.sort(function (a, b) {
      return when(b.dataset.actualEnd || b.dataset.end) - when(a.dataset.actualEnd || a.dataset.end);
    });
    fill(liveSection.querySelector("ul"), live);
    var days = upcoming.querySelector("[data-days]"), groups = [];
    coming.forEach(function (el) {
      var start = new Date(el.dataset.start), key = dayKey(start);
      if (!groups.length || groups[groups.length - 1].key !== key) {
        groups.push({ key: key, label: format(DAY).format(start), items: [] });
      }
      groups[groups.length - 1].items.push(el);
    });
    var built = groups.map(function (g) {
      var div = document.createElement("div"), h = document.createElement("h3"), ul = document.createElement("ul");
      div.className = "day";
      div.setAttribute("data-day", g.key);
      h.textContent = g.label;
      ul.className = "events";
      fill(ul, g.items);
      div.appendChild(h);
      div.appendChild(ul);
      return div;
    });
    fill(days, built);
    if (ended) fill(ended.querySelector("ul"), gone);
    else gone.forEach(function (el) { el.parentNode.removeChild(el); });
    liveSection.hidden = !live.length;
    upcoming.hidden = !coming.length;
    if (ended) ended.hidden = !gone.length;
    var empty = document.querySelector("[data-empty]");
    if (empty) empty.hidden = !!(live.length || coming.length || (ended && gone.length));
    if (focused && focused !== document.activeElement && document.contains(focused)) focused.focus();
  }
  function fill(parent, children) {
    var same = parent.children.length === children.length && children.every(function (c, i) { return parent.children[i] === c; });
    if (same) return;
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    children.forEach(function (c) { parent.appendChild(c); });
  }

  function announce(text) {
    var region = document.getElementById("announcer");
    if (region && text) region.textContent = text;
  }

  function tick() {
    var said = [], moved = false;
    items().forEach(function (el) {
      var st = stateOf(el), label = LABELS[st.state] + (st.over ? " · running over" : "");
      var badge = el.querySelector("[data-badge]");
      if (el.getAttribute("data-state") !== st.state || (badge && badge.textContent !== label)) {
        if (known) said.push(el.getAttribute("data-title") + " " + SAID[st.over && el.getAttribute("data-state") === "live" ? "over" : st.state]);
        if (el.getAttribute("data-state") !== st.state) moved = true;
        el.setAttribute("data-state", st.state);
        if (badge) { badge.textContent = label; badge.setAttribute("data-state", st.state); }
      }
      var timer = el.querySelector("[data-countdown]");
      if (timer) {
        var text = countdown(el, st);
        if (timer.textContent !== text) timer.textContent = text;
      }
    });
    if (moved && page !== "event") arrange();
    if (said.length) announce(said.join(". ") + ".");
    known = true;
  }

  /* the status stream: operator starts and ends, cancels, edits, as they happen.
     Closed when the page is hidden for navigation (a browser holds only six
     connections to a server; a page kept in the back-forward cache must not
     keep one) and opened again when it is shown. */
  var source = null;
  function follow() {
    var url = body.getAttribute("data-stream");
    if (!url || !window.EventSource || source) return;
    var channel = body.getAttribute("data-channel"), first = true;
    source = new EventSource(url);
    source.addEventListener("open", function () { first = true; });
    function apply(st) {
      if (first && st.now) { skew = Date.parse(st.now) - Date.now(); first = false; }
      var el = document.querySelector('[data-event-id="' + String(st.id).replace(/["\\]/g, "") + '"]');
      if (!el) {
        var relevant = (!channel || st.channel === channel) && when(st.ends_at) > now() - 864e5;
        if (relevant && page !== "event") changed();
        return;
      }
      if (st.scheduled_start !== el.dataset.start || st.scheduled_end !== el.dataset.end) changed();
      el.dataset.status = st.state === "cancelled" ? "cancelled" : "scheduled";
      el.dataset.actualStart = st.actual_start || "";
      el.dataset.actualEnd = st.actual_end || "";
      el.dataset.start = st.scheduled_start;
      el.dataset.end = st.scheduled_end;
      if (st.title && st.title !== el.dataset.title) {
        el.dataset.title = st.title;
        all(".event-title, [data-title-text]", el).forEach(function (t) { t.textContent = st.title; });
      }
      tick();
    }
    source.addEventListener("status", function (e) { apply(JSON.parse(e.data)); });
    source.addEventListener("snapshot", function (e) {
      var live = JSON.parse(e.data).live;
      if (!live.length) first = false;
      live.forEach(apply);
    });
  }
  window.addEventListener("pagehide", function () {
    if (source) { source.close(); source = null; }
  });
  window.addEventListener("pageshow", function (e) { if (e.persisted) { tick(); follow(); } });
  function changed() {
    var notice = document.querySelector("[data-changed]");
    if (notice) notice.hidden = false;
  }

  localTimes();
  if (viewerZone && viewerZone !== body.getAttribute("data-day-zone")) arrange();
  tick();
  setInterval(tick, 500);
  follow();
})();
