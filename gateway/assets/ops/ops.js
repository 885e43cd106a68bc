
"use strict";
// The operator page: polls the node's per-minute totals (GET /v1/ops/series) and the open
// alerts, and draws them as inline SVG. No library; nothing is loaded from elsewhere (the
// Content-Security-Policy forbids it). Each plotted series is a <g data-key data-values>, each
// point a <circle data-minute data-value>, so what is drawn can be read back (the end-to-end
// test does).
(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 5000;
  const MINUTES = 15;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  const TIERS = {
    province: "省级 province", city: "市级 city", county: "县级 county",
    township: "乡镇 township", village: "村级 village", unknown: "未知 unknown",
  };
  const ADAPTERS = {
    "market-regulation": "市场监管 market-regulation", "public-security": "公安 public-security",
    "civil-affairs": "民政 civil-affairs", "human-resources": "人社 human-resources",
    "ecology-environment": "生态环境 ecology-environment", tax: "税务 tax", health: "卫健 health",
    forwarded: "下级转发 forwarded",
  };
  const LEVELS = {
    alarm: "报警 alarm", warning: "预警 warning", overdue: "超期 overdue",
    late_entry: "超时录入 late entry", error: "无法评估 error",
  };

  const $ = (id) => document.getElementById(id);
  let renders = 0;

  function svg(name, attrs, text) {
    const e = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function html(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  const hhmm = (iso) => (iso || "").slice(11, 16);
  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");

  function fmt(v) {
    if (v == null) return "–";
    if (Math.abs(v) >= 10000) return (v / 1000).toFixed(0) + "k";
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(Math.abs(v) < 10 ? 1 : 0);
  }

  // The y axis's top: four steps of a round size (1, 2 or 5 × 10ⁿ) that reach v.
  function niceMax(v) {
    if (!(v > 0)) return 4;
    const p = Math.pow(10, Math.floor(Math.log10(v / 4)));
    for (const m of [1, 2, 2.5, 5, 10]) if (4 * m * p >= v) return 4 * m * p;
    return 40 * p;
  }

  // One plot: series = [{key, label, values: [number | null] per minute, note}].
  function lineChart(container, name, title, minutes, series, unit) {
    const W = 560, H = 190, L = 46, R = 22, T = 10, B = 24;
    const n = minutes.length;
    const values = series.flatMap((s) => s.values).filter((v) => v != null);
    const max = niceMax(Math.max(0, ...values));
    const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, "data-chart": name });
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      root.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    minutes.forEach((m, i) => {
      if ((n - 1 - i) % 3 === 0) root.append(svg("text", { x: x(i), y: H - 6, "text-anchor": "middle" }, hhmm(m)));
    });
    root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    root.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    if (unit) root.append(svg("text", { x: L + 4, y: T + 10 }, unit));
    const legend = html("div", { class: "legend" });
    if (!series.length) {
      root.append(svg("text", { class: "empty", x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle" },
        "暂无数据 No data in this window"));
    }
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length];
      const g = svg("g", { class: "series", "data-key": s.key, "data-values": s.values.map((v) => (v == null ? "" : v)).join(",") });
      let run = [];
      const line = () => {
        if (run.length > 1) g.append(svg("polyline", { class: "line", stroke: color, points: run.join(" ") }));
        run = [];
      };
      s.values.forEach((v, i) => {
        if (v == null) return line();
        run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      });
      line();
      s.values.forEach((v, i) => {
        if (v == null) return;
        const dot = svg("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: v > 0 ? 3 : 1.5, fill: color, "data-minute": minutes[i], "data-value": v });
        dot.append(svg("title", {}, `${hhmm(minutes[i])} · ${s.label} · ${fmt(v)}${unit ? " " + unit : ""}`));
        g.append(dot);
      });
      root.append(g);
      const swatch = html("i");
      swatch.style.background = color;
      legend.append(html("span", {}, swatch, s.label, s.note ? ` (${s.note})` : ""));
    });
    container.replaceChildren(legend, root);
  }

  function throughput(entries, labels) {
    return entries.map((e) => ({
      key: e.key,
      label: labels[e.key] || e.key,
      values: e.accepted,
      note: `入库 accepted ${e.total.accepted} · 拒收 rejected ${e.total.rejected}`,
    }));
  }

  function render(d) {
    $("node").textContent = `${d.node.name} · ${d.node.region} · ${TIERS[d.node.tier] || d.node.tier}`;
    const total = (m) => d.throughput.tier.reduce((a, e) => a + e.total[m], 0);
    $("t-received").textContent = fmt(total("received"));
    $("t-accepted").textContent = fmt(total("accepted"));
    $("t-rejected").textContent = fmt(total("rejected"));
    const now = d.outbox.now;
    $("t-depth").textContent = now ? fmt(now.depth) : "–";
    $("t-lag").textContent = now ? `${fmt(now.lag_seconds)} s` : "–";
    lineChart($("chart-adapter"), "adapter", "吞吐量（按适配器） Throughput per adapter", d.minutes,
      throughput(d.throughput.adapter, ADAPTERS), "条/分 records/min");
    lineChart($("chart-tier"), "tier", "吞吐量（按层级） Throughput per tier", d.minutes,
      throughput(d.throughput.tier, TIERS), "条/分 records/min");
    lineChart($("chart-latency"), "latency", "批次时延 Batch latency", d.minutes,
      d.latency.map((e) => ({
        key: e.key,
        label: ADAPTERS[e.key] || e.key,
        values: e.mean_ms,
        note: `批次 batches ${e.batches.reduce((a, b) => a + b, 0)} · 最大 max ${fmt(Math.max(0, ...e.max_ms.filter((v) => v != null)))} ms`,
      })), "ms");
    if (d.outbox.forwarding) {
      lineChart($("chart-outbox"), "outbox", "待转发 Outbox depth", d.minutes,
        [{ key: "depth", label: "待转发 outbox depth", values: d.outbox.depth }], "条 rows");
      lineChart($("chart-lag"), "lag", "转发延迟 Forwarding lag", d.minutes,
        [{ key: "lag_seconds", label: "转发延迟 forwarding lag", values: d.outbox.lag_seconds }], "s");
    } else {
      $("chart-outbox").replaceChildren(html("p", { class: "muted" }, "根节点，无上级节点：无需转发 Root node: nothing is forwarded"));
      $("chart-lag").replaceChildren();
    }
  }

  function badge(level) {
    return html("span", { class: `level ${level}` }, LEVELS[level] || level);
  }

  // Alert sources: each turns its answer into rows [badges, source, what, when]. Forwarding
  // alerts come with the series; electronic supervision's from GET /v1/supervision/alerts.
  // A further source is one more entry here.
  const ALERT_SOURCES = [
    {
      name: "forwarding",
      rows: (series) => series.alerts.map((a) => [[badge(a.level)], "转发 forwarding", a.message, ""]),
    },
    {
      name: "supervision",
      fetch: () => getJson("/v1/supervision/alerts?limit=20"),
      rows: (_, answer) => {
        if (!answer) return [];
        if (answer.status === 404) return { note: "本节点未提供电子监察告警 Supervision alerts are not available on this node" };
        if (!answer.ok) return { note: `电子监察告警读取失败 Supervision alerts failed: HTTP ${answer.status}` };
        const rows = answer.body.alerts.map((a) => [
          a.alarms.map(badge),
          "电子监察 supervision",
          `${a.case_no} · ${a.item.name} · ${a.region_code}`,
          a.deadline ? `期限 due ${when(a.deadline)}` : `录入 entered ${when(a.entry.entered_at)}`,
        ]);
        return answer.body.truncated ? { rows, note: "仅显示前 20 条 Showing the first 20" } : { rows };
      },
    },
    {
      name: "expiry",
      fetch: () => getJson("/v1/ops/expiring"),
      rows: (_, answer) => {
        if (!answer || !answer.ok) return [];
        const kinds = {
          node_certificate: "节点证书 node certificate", ca_certificate: "CA证书 CA certificate",
          signing_key: "签名密钥 signing key", client_certificate: "客户端证书 client certificate",
        };
        return answer.body.expiring.map((e) => [
          [badge(e.level === "expired" ? "alarm" : e.level)],
          "到期 expiry",
          `${kinds[e.kind] || e.kind} · ${e.subject}`,
          `到期 expires ${when(e.not_after)}`,
        ]);
      },
    },
  ];

  function renderAlerts(series, answers) {
    const rows = [];
    const notes = [];
    ALERT_SOURCES.forEach((source, i) => {
      const out = source.rows(series, answers[i]);
      if (Array.isArray(out)) rows.push(...out);
      else {
        if (out.rows) rows.push(...out.rows);
        if (out.note) notes.push(out.note);
      }
    });
    $("t-alerts").textContent = String(rows.length);
    const box = $("alerts");
    const parts = [];
    if (rows.length) {
      const table = html("table", {},
        html("thead", {}, html("tr", {}, html("th", {}, "级别 Level"), html("th", {}, "来源 Source"), html("th", {}, "内容 What"), html("th", {}, "时间 When"))));
      const body = html("tbody");
      for (const [badges, source, what, at] of rows) body.append(html("tr", {}, html("td", {}, ...badges), html("td", {}, source), html("td", {}, what), html("td", {}, at)));
      table.append(body);
      parts.push(table);
    } else {
      parts.push(html("p", { class: "none" }, "无未处理告警 No open alerts"));
    }
    for (const note of notes) parts.push(html("p", { class: "muted" }, note));
    box.replaceChildren(...parts);
  }

  async function getJson(path) {
    const r = await fetch(path, { credentials: "same-origin", cache: "no-store", headers: { accept: "application/json" } });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    return { status: r.status, ok: r.ok, body };
  }

  function showError(status, detail) {
    const banner = $("banner");
    banner.textContent =
      status === 401 ? "未登录：请使用运维证书，或通过 POST /v1/session 登录 · Not logged in: use an operator certificate or log in with POST /v1/session"
      : status === 403 ? "无权限：需要运维角色 · Forbidden: the operator role is required"
      : `无法读取数据 Cannot read the data${status ? ` (HTTP ${status})` : ""}: ${detail || ""}`;
    banner.hidden = false;
    $("state").className = "dot bad";
  }

  async function tick() {
    try {
      const fetches = ALERT_SOURCES.map((s) => (s.fetch ? s.fetch().catch(() => null) : Promise.resolve(null)));
      const [series, ...answers] = await Promise.all([getJson(`/v1/ops/series?minutes=${MINUTES}`), ...fetches]);
      if (!series.ok) {
        showError(series.status, series.body && series.body.detail);
        return;
      }
      render(series.body);
      renderAlerts(series.body, answers);
      $("banner").hidden = true;
      $("state").className = "dot ok";
      $("updated").textContent = `更新于 updated ${series.body.as_of.slice(11, 19)}`;
      renders += 1;
      document.body.dataset.renders = String(renders);
      document.body.dataset.asOf = series.body.as_of;
    } catch (e) {
      showError(0, String(e));
    } finally {
      setTimeout(tick, REFRESH_MS);
    }
  }

  tick();
})();
