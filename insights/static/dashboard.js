// The dashboard's live part: counters refreshed every 15 s, and detractor alerts as they arrive.
// Its words come from the page (the dashboard's translation table, in the reader's language).
(function () {
  "use strict";
  const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
  const T = JSON.parse(document.getElementById("dashboard-texts").textContent);
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all));

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  }

  async function refresh() {
    try {
      const r = await fetch("/api/insights/live", { credentials: "same-origin" });
      if (!r.ok) return;
      const live = await r.json();
      $("live-queued").textContent = live.queued_now;
      $("live-with-agents").textContent = live.with_agents_now;
      $("live-agents-online").textContent = live.agents_online;
      $("live-longest-wait").textContent = duration(live.longest_wait_s);
    } catch (e) { /* offline for a moment: keep the last numbers */ }
  }

  function listen() {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/agent/ws");
    ws.onmessage = (m) => {
      const event = JSON.parse(m.data);
      if (event.type !== "detractor") return;
      const p = document.createElement("p");
      // Customer text is shown as text, never as markup.
      const channel = T["channel_" + event.channel] || event.channel;
      const team = event.team_id ? T.teams[event.team_id] || event.team_id : null;
      p.textContent = fill(T.alert, { score: event.score, channel }) +
        (team ? fill(T.alert_team, { team }) : "") + (event.reason ? `: “${event.reason}”` : "");
      const none = document.getElementById("no-alerts");
      if (none) none.remove();
      document.getElementById("alerts").prepend(p);
    };
    ws.onclose = () => setTimeout(listen, 5000);
  }

  setInterval(refresh, 15000);
  listen();
})();
