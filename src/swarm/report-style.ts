/** report.html's own CSS (uPlot's is inlined beside it): a plain, printable page that reads on a laptop screen. */
export const REPORT_PAGE_STYLE = `
:root { color-scheme: light; --ok: #047857; --broken: #b91c1c; --muted: #555; --line: #ddd; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111; background: #fafafa; }
header, main { max-width: 1320px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 16px; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 0 0 6px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; margin: 14px 0; }
code, pre, td.num { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
.note, .unit, .none { color: var(--muted); }
.unit { font-weight: normal; font-size: 12px; margin-left: 6px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff;
  vertical-align: middle; font-family: system-ui, sans-serif; }
.badge.ok { background: var(--ok); }
.badge.broken { background: var(--broken); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
thead th { border-bottom: 2px solid #bbb; white-space: nowrap; }
tfoot td { border-top: 2px solid #bbb; font-weight: 600; }
.num { text-align: right; white-space: nowrap; }
table.headline th { white-space: nowrap; color: #333; padding-right: 24px; }
td code { white-space: nowrap; }
#money th, #money td { padding: 4px 7px; }
table.headline td { font-variant-numeric: tabular-nums; }
#invariants { list-style: none; padding: 0; margin: 0; }
#invariants li { padding: 5px 0; border-bottom: 1px solid #eee; }
#invariants li.broken { background: #fef2f2; }
#invariants .detail { color: #333; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 14px; }
figure { margin: 0; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.plot { position: relative; min-height: 220px; }
.plot .no-samples { position: absolute; top: 80px; left: 0; right: 0; text-align: center; color: var(--muted);
  font-style: italic; margin: 0; pointer-events: none; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 20px; }
pre { background: #f4f4f5; padding: 10px; border-radius: 4px; overflow: auto; max-height: 480px; white-space: pre-wrap;
  word-break: break-word; }
`
