// The live console: appends the build's log as it grows, from an EventSource whose event ids
// are byte offsets (a reconnect resumes exactly where it stopped). Without JavaScript the page
// still shows the log and refreshes itself while the build runs.
(function () {
  "use strict";
  var pre = document.getElementById("console");
  if (!pre || !window.EventSource || pre.dataset.done === "true") return;
  var state = document.getElementById("console-state");
  var follow = true;
  pre.addEventListener("scroll", function () {
    follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
  });
  function scroll() { if (follow) pre.scrollTop = pre.scrollHeight; }
  scroll();
  var source = new EventSource(pre.dataset.events + "?start=" + encodeURIComponent(pre.dataset.offset));
  state.textContent = "Running… (live)";
  source.addEventListener("log", function (e) {
    pre.appendChild(document.createTextNode(JSON.parse(e.data)));
    pre.dataset.offset = e.lastEventId;
    state.classList.remove("reconnecting");
    scroll();
  });
  // the stage table and outputs follow the build: their server-rendered sections are fetched
  // again every few seconds and swapped in (no page reload, so the console keeps its place)
  function refreshSections() {
    var sections = document.querySelectorAll("[data-refresh]");
    if (!sections.length || !window.fetch || !window.DOMParser) return;
    fetch(window.location.href, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.text() : "";
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      sections.forEach(function (el) {
        var fresh = doc.getElementById(el.id);
        if (fresh) el.replaceWith(document.importNode(fresh, true));
      });
    }).catch(function () {});
  }
  var refresher = setInterval(refreshSections, 4000);
  source.addEventListener("end", function (e) {
    var result = JSON.parse(e.data).result;
    source.close();
    clearInterval(refresher);
    refreshSections();
    state.textContent = "Finished: " + result;
    state.dataset.result = result;
    document.querySelectorAll("h1 .status").forEach(function (el) {
      el.textContent = result;
      el.className = "status s-" + result.toLowerCase();
    });
  });
  source.addEventListener("error", function () {
    if (source.readyState !== EventSource.CLOSED) {
      state.textContent = "Reconnecting…";
      state.classList.add("reconnecting");
    }
  });
  document.addEventListener("visibilitychange", function () {
    // one stream per visible page: browsers allow six connections per host over HTTP/1.1
    if (document.hidden) { source.close(); } else if (source.readyState === EventSource.CLOSED &&
        state.dataset.result === "") { window.location.reload(); }
  });
})();
