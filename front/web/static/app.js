// The dashboard's own script: the charts, drawn with uPlot from the JSON
// the pages name in data-src (the operator API's answers, see
// front/web/charts.go). Nothing inline: the pages' Content-Security-Policy
// allows scripts from the server's own files alone. Charts are fetched
// again every REFRESH_MS, so that a page left open keeps up.
(function () {
  "use strict";

  var REFRESH_MS = 10000;
  var HEIGHT = 220;
  var plots = [];

  function width(el) {
    return Math.max(240, el.clientWidth - 16);
  }

  function secs(iso) {
    return Date.parse(iso) / 1000;
  }

  function micros(m) {
    return m / 1e6;
  }

  // draw replaces the uPlot chart in el (keeping a heading) with one of
  // opts over data.
  function draw(el, opts, data) {
    var old = el.querySelector(".uplot");
    if (old) {
      old.remove();
    }
    var empty = el.querySelector(".empty");
    if (empty) {
      empty.remove();
    }
    if (!data[0] || data[0].length === 0) {
      var p = document.createElement("p");
      p.className = "empty muted";
      p.textContent = "No cycle recorded yet.";
      el.appendChild(p);
      el.dataset.points = "0";
      return;
    }
    opts.width = width(el);
    opts.height = HEIGHT;
    opts.axes = (opts.axes || [{}, {}]).map(function (a, i) {
      if (i > 0 && a.size === undefined) {
        a.size = valueAxisSize;
      }
      return a;
    });
    var plot = new uPlot(opts, data, el);
    plots.push({ el: el, plot: plot });
    el.dataset.points = String(data[0].length);
  }

  // valueAxisSize makes a value axis as wide as its longest tick label:
  // uPlot's fixed default (50 px) cut "100,000" to "0,000".
  function valueAxisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1) {
      return axis._size;
    }
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, v) {
      return String(v).length > a.length ? String(v) : a;
    }, "");
    if (longest !== "") {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / (window.devicePixelRatio || 1);
    }
    return Math.ceil(size);
  }

  function series(label, stroke, scale) {
    var s = { label: label, stroke: stroke, width: 2 };
    if (scale) {
      s.scale = scale;
    }
    return s;
  }

  var kinds = {
    // markets: one chart per market, price on the left axis and
    // utilization (0 to 1) on the right.
    markets: function (box, json) {
      (json.markets || []).forEach(function (m) {
        var el = document.getElementById("chart-market-" + m.market);
        if (!el) {
          return;
        }
        var xs = [], price = [], util = [];
        m.points.forEach(function (p) {
          xs.push(secs(p.at));
          price.push(micros(p.price_micros));
          util.push(p.utilization);
        });
        draw(el, {
          series: [{}, series("price", "#2c6bd6", "credits"), series("utilization", "#23845a", "ratio")],
          scales: { ratio: { range: [0, 1] } },
          axes: [{}, { scale: "credits", label: "credits per unit" }, { scale: "ratio", side: 1, grid: { show: false } }]
        }, [xs, price, util]);
      });
    },
    population: function (el, json) {
      var xs = [], alive = [], dead = [], total = [];
      (json.points || []).forEach(function (p) {
        xs.push(secs(p.at));
        alive.push(p.alive);
        dead.push(p.dead);
        total.push(p.total);
      });
      draw(el, {
        title: "Agents",
        series: [{}, series("alive", "#23845a"), series("dead", "#b3372f"), series("ever", "#5b6474")]
      }, [xs, alive, dead, total]);
    },
    credits: function (el, json) {
      var xs = [], minted = [], burned = [], balance = [];
      (json.points || []).forEach(function (p) {
        xs.push(secs(p.at));
        minted.push(micros(p.minted_micros));
        burned.push(micros(p.burned_micros));
        balance.push(micros(p.balance_micros));
      });
      draw(el, {
        title: "Credits",
        series: [{}, series("minted", "#2c6bd6"), series("burned", "#b3372f"), series("held by agents", "#23845a")]
      }, [xs, minted, burned, balance]);
    },
    // distribution: a bar per bin, at the bin's middle, the x axis from
    // 0 to the last bin's end.
    distribution: function (el, json) {
      var xs = [], counts = [], end = 0;
      (json.bins || []).forEach(function (b) {
        xs.push(micros(b.from_micros + b.to_micros) / 2);
        counts.push(b.agents);
        end = micros(b.to_micros);
      });
      var gini = document.getElementById("gini");
      if (gini && json.gini_text) {
        gini.textContent = json.gini_text;
      }
      draw(el, {
        title: "Balances of the living agents",
        scales: { x: { time: false, range: function () { return [0, end]; } }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
        series: [{ label: "balance (credits)" }, {
          label: "agents", stroke: "#2c6bd6", fill: "rgba(44,107,214,0.35)",
          paths: uPlot.paths.bars({ size: [0.9, 80] }), points: { show: false }
        }],
        axes: [{ label: "balance (credits)" }, { label: "agents" }]
      }, [xs, counts]);
    },
    "agent-balance": function (el, json) {
      var xs = [], balance = [];
      (json.points || []).forEach(function (p) {
        xs.push(secs(p.at));
        balance.push(micros(p.balance_micros));
      });
      draw(el, {
        title: "Balance",
        series: [{}, { label: "balance", stroke: "#2c6bd6", width: 2, paths: uPlot.paths.stepped({ align: 1 }) }]
      }, [xs, balance]);
    }
  };

  function load() {
    plots.forEach(function (p) {
      p.plot.destroy();
    });
    plots = [];
    var sources = {};
    document.querySelectorAll("[data-src][data-kind]").forEach(function (el) {
      var src = el.dataset.src;
      (sources[src] = sources[src] || []).push(el);
    });
    Object.keys(sources).forEach(function (src) {
      fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) {
          if (res.status === 401) {
            window.location.assign("/ui/login?next=" + encodeURIComponent(window.location.pathname));
            throw new Error("logged out");
          }
          if (!res.ok) {
            throw new Error(src + ": " + res.status);
          }
          return res.json();
        })
        .then(function (json) {
          sources[src].forEach(function (el) {
            var kind = kinds[el.dataset.kind];
            if (kind) {
              kind(el, json);
              el.dataset.loaded = "true";
            }
          });
        })
        .catch(function (err) {
          sources[src].forEach(function (el) {
            el.dataset.error = String(err);
          });
        });
    });
  }

  function resize() {
    plots.forEach(function (p) {
      p.plot.setSize({ width: width(p.el), height: HEIGHT });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[data-src][data-kind]") || typeof uPlot === "undefined") {
      return;
    }
    load();
    window.setInterval(load, REFRESH_MS);
    var pending;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(resize, 150);
    });
  });
})();
