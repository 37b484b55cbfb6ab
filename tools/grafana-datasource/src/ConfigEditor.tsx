/*
 * ConfigEditor.tsx: the datasource settings page.
 *
 * URL: historiand's HTTP address as the Grafana *server* reaches it (the
 * proxy route in plugin.json reads it from jsonData.url). Read token: kept in
 * secureJsonData; Grafana encrypts it, never sends it back to the browser,
 * and adds "Authorization: Bearer <token>" when it proxies a request.
 */
import * as React from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { FieldSet, InlineField, Input, SecretInput } from '@grafana/ui';

import { HistorianOptions, HistorianSecureOptions } from './types';

type Props = DataSourcePluginOptionsEditorProps<HistorianOptions, HistorianSecureOptions>;

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const secure = (options.secureJsonData ?? {}) as HistorianSecureOptions;
  return (
    <FieldSet label="historiand">
      <InlineField
        label="URL"
        labelWidth={16}
        tooltip="historiand's HTTP address as the Grafana server sees it, e.g. http://historian-host:9460"
      >
        <Input
          width={40}
          placeholder="http://localhost:9460"
          value={options.jsonData.url ?? ''}
          onChange={(e) => {
            const url = e.currentTarget.value.trim();
            /* options.url too, so Grafana's proxy URL is set for this datasource */
            onOptionsChange({ ...options, url, jsonData: { ...options.jsonData, url } });
          }}
        />
      </InlineField>
      <InlineField
        label="Read token"
        labelWidth={16}
        tooltip="A token with the read scope; sent by the Grafana server as Authorization: Bearer. Leave empty when historiand runs without auth."
      >
        <SecretInput
          width={40}
          isConfigured={Boolean(options.secureJsonFields?.token)}
          value={secure.token ?? ''}
          placeholder="token"
          onReset={() =>
            onOptionsChange({
              ...options,
              secureJsonFields: { ...options.secureJsonFields, token: false },
              secureJsonData: { ...secure, token: '' },
            })
          }
          onChange={(e) =>
            onOptionsChange({ ...options, secureJsonData: { ...secure, token: e.currentTarget.value } })
          }
        />
      </InlineField>
    </FieldSet>
  );
}
