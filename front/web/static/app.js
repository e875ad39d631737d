// The dashboard's own script: charts (uPlot) drawn from the JSON the
// pages name in data-src. Nothing inline: the pages' Content-Security-Policy
// allows scripts from the server's own files alone.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (window.agoraCharts) { window.agoraCharts(); }
  });
})();
