import openapiTS, { astToString } from 'openapi-typescript';

/** The client's request and answer types, generated from the OpenAPI document text (never written by hand). */
export async function generateClientTypes(documentText: string): Promise<string> {
  const ast = await openapiTS(JSON.parse(documentText), { exportType: false });
  return (
    '// Generated from openapi/openapi.json by `npm run openapi` (openapi-typescript). Do not edit.\n' +
    '/* eslint-disable */\n' +
    astToString(ast)
  );
}
