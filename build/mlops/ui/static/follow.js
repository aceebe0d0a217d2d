// Follows a run while it goes: polls the small JSON answer named by <body data-follow> and
// reloads the page when the run or one of its steps changed; counts running times up.
(function () {
  "use strict";
  var body = document.body;
  var url = body.dataset.follow;

  function show(seconds) {
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    if (m < 60) return m + " min " + (s < 10 ? "0" : "") + s + " s";
    var h = Math.floor(m / 60), mm = m % 60;
    return h + " h " + (mm < 10 ? "0" : "") + mm + " min";
  }

  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
      el.textContent = show(Math.max(0, now - parseFloat(el.dataset.since)));
    });
  }

  if (!url) return;
  var token = body.dataset.token || null;
  var banner = document.querySelector(".following");
  if (banner) banner.hidden = false;
  setInterval(tick, 1000);

  function poll() {
    fetch(url, { cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (state) {
        if (!state) return;
        if (token !== null && state.token !== token) { location.reload(); return; }
        token = state.token;
        var going = state.running === true || (Array.isArray(state.running) && state.running.length > 0);
        if (going) setTimeout(poll, 2000);
        else location.reload();
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
