// Prometheus text for GET /metrics: per-instance counters kept in this process (each instance
// is scraped on its own), plus gauges read when scraped.

const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Histogram = { counts: number[]; sum: number; count: number };

export type Gauge = { name: string; help: string; read: () => number };

export function createMetrics() {
  const requests = new Map<string, number>();
  const durations = new Map<string, Histogram>();
  const gauges: Gauge[] = [];
  const label = (value: string) => value.replace(/["\\\n]/g, '_');

  return {
    observeRequest(method: string, route: string, status: number, seconds: number) {
      const key = `method="${label(method)}",route="${label(route)}",status="${status}"`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      const routeKey = `route="${label(route)}"`;
      let histogram = durations.get(routeKey);
      if (!histogram) durations.set(routeKey, (histogram = { counts: buckets.map(() => 0), sum: 0, count: 0 }));
      buckets.forEach((bound, i) => {
        if (seconds <= bound) histogram.counts[i]!++;
      });
      histogram.sum += seconds;
      histogram.count++;
    },

    addGauge(gauge: Gauge) {
      gauges.push(gauge);
    },

    render(): string {
      const lines = ['# HELP parley_http_requests_total HTTP requests answered', '# TYPE parley_http_requests_total counter'];
      for (const [labels, value] of requests) lines.push(`parley_http_requests_total{${labels}} ${value}`);
      lines.push('# HELP parley_http_request_duration_seconds Time to answer, by route', '# TYPE parley_http_request_duration_seconds histogram');
      for (const [labels, histogram] of durations) {
        buckets.forEach((bound, i) => lines.push(`parley_http_request_duration_seconds_bucket{${labels},le="${bound}"} ${histogram.counts[i]}`));
        lines.push(`parley_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${histogram.count}`);
        lines.push(`parley_http_request_duration_seconds_sum{${labels}} ${histogram.sum}`);
        lines.push(`parley_http_request_duration_seconds_count{${labels}} ${histogram.count}`);
      }
      for (const gauge of gauges) lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`, `${gauge.name} ${gauge.read()}`);
      return `${lines.join('\n')}\n`;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
