// Prometheus text for GET /metrics: per-instance counters kept in this process (each instance
// is scraped on its own), plus gauges read when scraped.

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

type Series = { counts: number[]; sum: number; count: number };

export type Gauge = { name: string; help: string; read: () => number };

/** Counters kept elsewhere, read when scraped: one value per set of labels. */
export type CounterFamily = { name: string; help: string; read: () => [labels: Record<string, string>, value: number][] };

/** A histogram in seconds; `observe` takes the label values in the order of its label names. */
export type Histogram = { observe(labelValues: readonly string[], seconds: number): void };

const label = (value: string) => value.replace(/["\\\n]/g, '_');

export function createMetrics() {
  const requests = new Map<string, number>();
  const histograms: { name: string; help: string; render: (lines: string[]) => void }[] = [];
  const gauges: Gauge[] = [];
  const counterFamilies: CounterFamily[] = [];
  const collectors: (() => Promise<void>)[] = [];

  const metrics = {
    /** Registers a histogram of seconds (Prometheus buckets from 1 ms to 120 s). */
    histogram(name: string, help: string, labelNames: readonly string[]): Histogram {
      const series = new Map<string, Series>();
      histograms.push({
        name,
        help,
        render(lines) {
          for (const [labels, s] of series) {
            const prefix = labels ? `${labels},` : '';
            for (const [i, bound] of buckets.entries()) lines.push(`${name}_bucket{${prefix}le="${bound}"} ${s.counts[i]}`);
            lines.push(`${name}_bucket{${prefix}le="+Inf"} ${s.count}`);
            lines.push(`${name}_sum${labels ? `{${labels}}` : ''} ${s.sum}`);
            lines.push(`${name}_count${labels ? `{${labels}}` : ''} ${s.count}`);
          }
        },
      });
      return {
        observe(labelValues, seconds) {
          const key = labelNames.map((labelName, i) => `${labelName}="${label(labelValues[i] ?? '')}"`).join(',');
          let s = series.get(key);
          if (!s) series.set(key, (s = { counts: buckets.map(() => 0), sum: 0, count: 0 }));
          for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]!) s.counts[i]!++;
          s.sum += seconds;
          s.count++;
        },
      };
    },

    addGauge(gauge: Gauge) {
      gauges.push(gauge);
    },

    addCounters(family: CounterFamily) {
      counterFamilies.push(family);
    },

    /** Registers work to do before each scrape (reading what gauges show from a store); it must not throw. */
    addCollector(collect: () => Promise<void>) {
      collectors.push(collect);
    },

    /** Runs the collectors, waiting at most `timeoutMs`: a slow store leaves the last values in place. */
    async collect(timeoutMs = 2000): Promise<void> {
      let timer: Timer | undefined;
      await Promise.race([
        Promise.allSettled(collectors.map((collect) => collect())),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },

    render(): string {
      const lines = ['# HELP parley_http_requests_total HTTP requests answered', '# TYPE parley_http_requests_total counter'];
      for (const [labels, value] of requests) lines.push(`parley_http_requests_total{${labels}} ${value}`);
      for (const histogram of histograms) {
        lines.push(`# HELP ${histogram.name} ${histogram.help}`, `# TYPE ${histogram.name} histogram`);
        histogram.render(lines);
      }
      for (const family of counterFamilies) {
        lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} counter`);
        for (const [labels, value] of family.read()) {
          const text = Object.entries(labels)
            .map(([name, labelValue]) => `${name}="${label(labelValue)}"`)
            .join(',');
          lines.push(`${family.name}${text ? `{${text}}` : ''} ${value}`);
        }
      }
      for (const gauge of gauges)
        lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`, `${gauge.name} ${gauge.read()}`);
      return `${lines.join('\n')}\n`;
    },
  };

  const durations = metrics.histogram(
    'parley_http_request_duration_seconds',
    'Time to answer, by route; a streamed response counts until its stream ends',
    ['route'],
  );

  return {
    ...metrics,
    observeRequest(method: string, route: string, status: number, seconds: number) {
      const key = `method="${label(method)}",route="${label(route)}",status="${status}"`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      durations.observe([route], seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
