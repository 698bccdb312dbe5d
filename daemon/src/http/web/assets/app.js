// microci: a running job's page follows its log and state through the job's event stream
// (/jobs/ID/events). The server sends the log already rendered and escaped; the state's words
// are set as text. Without this script the page refreshes itself while the job runs.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job || job.getAttribute("data-final") === "1" || !window.EventSource) return;
  var log = document.getElementById("log");
  var started = job.getAttribute("data-started") || "";
  var tick = null;
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function fmt(s) {
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + two(s % 60) + "s";
    return Math.floor(s / 3600) + "h " + two(Math.floor((s % 3600) / 60)) + "m";
  }
  function set(id, text, title) {
    var el = document.getElementById(id);
    if (!el || text === undefined || text === null) return;
    el.textContent = text;
    if (title) el.title = title;
  }
  function run() {
    if (tick || !started) return;
    var t0 = Date.parse(started);
    tick = setInterval(function () {
      set("duration", fmt(Math.max(0, Math.floor((Date.now() - t0) / 1000))));
    }, 1000);
  }
  run();
  var es = new EventSource(job.getAttribute("data-events"));
  es.addEventListener("log", function (e) {
    var end = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.insertAdjacentHTML("beforeend", e.data);
    if (end) log.scrollTop = log.scrollHeight;
  });
  es.addEventListener("state", function (e) {
    var s = JSON.parse(e.data);
    document.getElementById("state").innerHTML = s.state;
    set("finished", s.finished, s.finished_title);
    set("duration", s.duration);
    set("reason", s.reason);
    set("exit", s.exit_code);
    if (s.started && !started) { started = s.started; run(); }
    if (s.final) { clearInterval(tick); tick = null; job.setAttribute("data-final", "1"); }
  });
  es.addEventListener("end", function () { es.close(); });
})();
