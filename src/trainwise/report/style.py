"""The report's inline stylesheet: system fonts only (nothing is fetched), readable on screen and in print."""

CSS = """
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #ffffff; --soft: #f6f8fb;
        --critical: #c0262d; --warning: #b25e09; --info: #2463b3; --ok: #237a3b; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; color: var(--fg); background: var(--bg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 14px 0 6px; }
header { margin-bottom: 18px; }
section { margin: 0 0 26px; }
.muted { color: var(--muted); font-size: 13px; margin: 4px 0; }
.ok { color: var(--ok); font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px;
        min-width: 130px; }
.card span { display: block; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card b { font-size: 16px; }
table { border-collapse: collapse; margin: 6px 0; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
.facts table { width: 100%; }
.facts td:first-child { white-space: nowrap; overflow-wrap: normal; color: var(--muted); }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
table.numeric td, table.numeric th { text-align: right; padding-left: 12px; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; align-items: start; }
.facts { grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); }
figure { margin: 0; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px;
      overflow: auto; max-height: 420px; font-size: 13px; }
code { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.finding { border-left: 4px solid var(--info); background: var(--soft); border-radius: 6px;
           padding: 8px 14px; margin: 0 0 10px; }
.finding p { margin: 4px 0; }
.finding.critical { border-color: var(--critical); }
.finding.warning { border-color: var(--warning); }
.badge { display: inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase; color: #fff;
         background: var(--info); border-radius: 4px; padding: 1px 6px; margin-right: 4px; }
.critical .badge { background: var(--critical); }
.warning .badge { background: var(--warning); }
.remedies { margin: 2px 0 4px; padding-left: 20px; }
.result { margin-bottom: 14px; }
details summary { cursor: pointer; color: var(--muted); }
@media print { details { display: block; } body { max-width: none; } }
"""
