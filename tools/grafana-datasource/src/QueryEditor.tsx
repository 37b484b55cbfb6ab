/*
 * QueryEditor.tsx: the panel query editor.
 *
 * Tags: a multi-select that browses the namespace as you type (a prefix such
 * as "plant1/area2/" lists the tags below it; a glob with * searches;
 * "$variable" is kept as typed). Then the mode and, per mode, what it needs:
 * plot -> points (empty = the panel width), raw -> limit (both: the edges,
 * boundary outside by default), interpolated ->
 * step (empty = the panel interval), aggregate -> aggregates, bucket (a
 * step, or hour/day/week/month/shift in a time zone) and fill.
 */
import * as React from 'react';
import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { AsyncMultiSelect, InlineField, InlineFieldRow, Input, MultiSelect, RadioButtonGroup, Select } from '@grafana/ui';

import { HistorianDataSource } from './datasource';
import {
  AGGREGATES,
  DEFAULT_QUERY,
  HistorianBoundary,
  HistorianBucket,
  HistorianFill,
  HistorianMode,
  HistorianOptions,
  HistorianQuery,
} from './types';

type Props = QueryEditorProps<HistorianDataSource, HistorianQuery, HistorianOptions>;

const MODES: Array<SelectableValue<HistorianMode>> = [
  { label: 'Plot', value: 'plot', description: 'min/max/first/last per pixel (M4): the raw line, few points' },
  { label: 'Raw', value: 'raw', description: 'the recorded samples' },
  { label: 'Interpolated', value: 'interpolated', description: 'a value every step' },
  { label: 'Aggregate', value: 'aggregate', description: 'aggregates per bucket' },
];

const BUCKETS: Array<SelectableValue<HistorianBucket>> = [
  { label: 'Step', value: 'fixed', description: 'fixed step (auto = panel interval)' },
  { label: 'Hour', value: 'hour' },
  { label: 'Shift', value: 'shift' },
  { label: 'Day', value: 'day' },
  { label: 'Week', value: 'week', description: 'ISO weeks, Monday 00:00 local' },
  { label: 'Month', value: 'month' },
];

const EDGES: Array<SelectableValue<HistorianBoundary>> = [
  { label: 'Outside', value: 'outside', description: 'also the last sample before the range and the first after it: a value set last week draws across today' },
  { label: 'Inside', value: 'inside', description: 'only the samples inside the range' },
];

const FILLS: Array<SelectableValue<HistorianFill>> = [
  { label: 'null', value: 'null', description: 'empty buckets are rows of null' },
  { label: 'none', value: 'none', description: 'empty buckets are left out' },
  { label: 'previous', value: 'previous' },
  { label: 'linear', value: 'linear' },
];

const AGG_OPTIONS: Array<SelectableValue<string>> = AGGREGATES.map((a) => ({ label: a, value: a }));

const LABEL_WIDTH = 14;

export function QueryEditor({ query, onChange, onRunQuery, datasource }: Props) {
  const q = { ...DEFAULT_QUERY, ...query } as HistorianQuery;
  const set = (patch: Partial<HistorianQuery>, run = true) => {
    onChange({ ...q, ...patch });
    if (run) {
      onRunQuery();
    }
  };

  const loadTags = React.useCallback(
    async (text: string): Promise<Array<SelectableValue<string>>> => {
      const tags = await datasource.searchTags(text ?? '', 200);
      return tags.map((t) => ({
        label: t.name,
        value: t.name,
        description: [t.unit, t.description].filter(Boolean).join(' · ') || undefined,
      }));
    },
    [datasource]
  );

  const mode = q.mode ?? 'plot';
  const bucket = q.bucket ?? 'fixed';
  const stepField = (
    <InlineField label="Step" labelWidth={LABEL_WIDTH} tooltip="e.g. 10s, 1m, 1h; empty = the panel's interval">
      <Input
        width={12}
        placeholder="auto"
        defaultValue={q.step ?? ''}
        onBlur={(e) => set({ step: e.currentTarget.value.trim() })}
      />
    </InlineField>
  );

  return (
    <div>
      <InlineFieldRow>
        <InlineField label="Tags" labelWidth={LABEL_WIDTH} grow tooltip="Type a prefix (site/area/) to browse, a glob (*/temp, ** across levels) to search, or $variable">
          <AsyncMultiSelect<string>
            loadOptions={loadTags}
            defaultOptions
            allowCustomValue
            placeholder="site/area/line/..."
            value={(q.tags ?? []).map((t) => ({ label: t, value: t }))}
            onChange={(v: Array<SelectableValue<string>>) =>
              set({ tags: (v ?? []).map((o) => o.value!).filter((s) => !!s) })
            }
          />
        </InlineField>
      </InlineFieldRow>
      <InlineFieldRow>
        <InlineField label="Mode" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup<HistorianMode> options={MODES} value={mode} onChange={(v) => set({ mode: v })} />
        </InlineField>
        {mode === 'plot' && (
          <InlineField label="Points" labelWidth={LABEL_WIDTH} tooltip="empty = the panel width (max data points)">
            <Input
              width={12}
              type="number"
              placeholder="auto"
              defaultValue={q.points ? String(q.points) : ''}
              onBlur={(e) => set({ points: Number(e.currentTarget.value) || undefined })}
            />
          </InlineField>
        )}
        {mode === 'raw' && (
          <InlineField label="Limit" labelWidth={LABEL_WIDTH} tooltip="samples per tag; empty = the server's default">
            <Input
              width={12}
              type="number"
              placeholder="default"
              defaultValue={q.limit ? String(q.limit) : ''}
              onBlur={(e) => set({ limit: Number(e.currentTarget.value) || undefined })}
            />
          </InlineField>
        )}
        {(mode === 'plot' || mode === 'raw') && (
          <InlineField label="Edges" labelWidth={8} tooltip="values at the window's edges (boundary)">
            <RadioButtonGroup<HistorianBoundary>
              options={EDGES}
              value={q.boundary ?? 'outside'}
              onChange={(v) => set({ boundary: v })}
            />
          </InlineField>
        )}
        {mode === 'interpolated' && stepField}
      </InlineFieldRow>
      {mode === 'aggregate' && (
        <>
          <InlineFieldRow>
            <InlineField label="Aggregates" labelWidth={LABEL_WIDTH} grow>
              <MultiSelect<string>
                options={AGG_OPTIONS}
                allowCustomValue /* time_in_state:3, percentile:99.9 */
                value={q.aggs ?? []}
                onChange={(v: Array<SelectableValue<string>>) =>
                  set({ aggs: (v ?? []).map((o) => o.value!).filter((s) => !!s) })
                }
              />
            </InlineField>
          </InlineFieldRow>
          <InlineFieldRow>
            <InlineField label="Bucket" labelWidth={LABEL_WIDTH}>
              <Select<HistorianBucket>
                width={14}
                options={BUCKETS}
                value={bucket}
                onChange={(v) => set({ bucket: v.value ?? 'fixed' })}
              />
            </InlineField>
            {bucket === 'fixed' && stepField}
            {bucket !== 'fixed' && (
              <InlineField label="Time zone" labelWidth={LABEL_WIDTH} tooltip="IANA name, e.g. Europe/Berlin; empty = the dashboard's zone">
                <Input
                  width={20}
                  placeholder="dashboard"
                  defaultValue={q.tz ?? ''}
                  onBlur={(e) => set({ tz: e.currentTarget.value.trim() })}
                />
              </InlineField>
            )}
            {bucket === 'shift' && (
              <InlineField label="Shift starts" labelWidth={LABEL_WIDTH} tooltip="local times, comma separated">
                <Input
                  width={22}
                  placeholder="06:00,14:00,22:00"
                  defaultValue={q.shifts ?? ''}
                  onBlur={(e) => set({ shifts: e.currentTarget.value.trim() })}
                />
              </InlineField>
            )}
            <InlineField label="Fill" labelWidth={8}>
              <Select<HistorianFill>
                width={14}
                options={FILLS}
                value={q.fill ?? 'null'}
                onChange={(v) => set({ fill: v.value ?? 'null' })}
              />
            </InlineField>
          </InlineFieldRow>
        </>
      )}
    </div>
  );
}
