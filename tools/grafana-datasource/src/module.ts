/*
 * module.ts: the plugin's entry point. Grafana loads dist/module.js (an AMD
 * module, see build.mjs) and reads its export "plugin".
 */
import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { HistorianDataSource } from './datasource';
import { QueryEditor } from './QueryEditor';
import { HistorianOptions, HistorianQuery } from './types';

export const plugin = new DataSourcePlugin<HistorianDataSource, HistorianQuery, HistorianOptions>(HistorianDataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
