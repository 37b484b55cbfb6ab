// A stand-in for @grafana/runtime in tests: getBackendSrv().fetch() answers
// through a handler the test sets (a canned reply, or real HTTP to
// historiand), getTemplateSrv().replace() expands variables from a map the
// test sets. Requests are recorded so tests can assert the URLs sent.
export interface FakeReply {
  status: number;
  data: unknown;
}

export const runtime = {
  requests: [] as string[],
  handler: (_url: string): FakeReply | Promise<FakeReply> => ({ status: 404, data: { error: 'no handler' } }),
  /* "$name" -> value; an array is a multi-value variable */
  vars: {} as Record<string, string | string[]>,
};

function replace(text: string, _scoped?: unknown, format?: string): string {
  return (text ?? '').replace(/\$(\w+)|\$\{(\w+)\}/g, (m, a, b) => {
    const v = runtime.vars[a ?? b];
    if (v === undefined) {
      return m;
    }
    if (Array.isArray(v)) {
      return format === 'glob' ? `{${v.join(',')}}` : v.join(',');
    }
    return v;
  });
}

export const fakeRuntimeModule = {
  getBackendSrv: () => ({
    fetch: (opts: { url: string }) => ({
      subscribe(o: { next: (r: FakeReply) => void; error: (e: unknown) => void; complete: () => void }) {
        runtime.requests.push(opts.url);
        Promise.resolve()
          .then(() => runtime.handler(opts.url))
          .then(
            (r) => {
              if (r.status >= 400) {
                /* getBackendSrv().fetch errors with {status, data} on HTTP errors */
                o.error({ status: r.status, data: r.data });
                return;
              }
              o.next(r);
              o.complete();
            },
            (e) => o.error(e)
          );
        return { unsubscribe: () => undefined };
      },
    }),
  }),
  getTemplateSrv: () => ({ replace }),
};
