export { collectRunReport, renderRunReport, writeRunReport, REPORT_FILE } from './report.ts';
export type { ConfusionSection, RunReportData, RunReportOptions } from './report.ts';
export { readRunLog, METRICS_FILE } from './run_log.ts';
export type { EvalPoint, RunLog, StepPoint } from './run_log.ts';
export { lineChart, movingAverage, niceTicks } from './svg.ts';
export type { ChartOptions, Marker, Series } from './svg.ts';
export { esc } from './html.ts';
