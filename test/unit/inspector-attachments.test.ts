import { describe, expect, it } from 'vitest';
import { attachmentsNote, fileName } from '../../inspector/src/attachment-text.js';

// The inspector's attachments (docs/guide.md, Attachments): always saved as a file named after the start of
// the attachment's id and its type (`746fc6af8233d0c8.txt`), never opened.

const ID = '746fc6af8233d0c8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718';

describe('a download\'s file name', () => {
  it('is the id\'s first 16 characters and an extension for the types a desktop opens by it', () => {
    const types: [string, string][] = [
      ['text/plain', 'txt'],
      ['text/markdown', 'md'],
      ['text/csv', 'csv'],
      ['text/html', 'html'],
      ['application/json', 'json'],
      ['application/pdf', 'pdf'],
      ['image/png', 'png'],
      ['image/jpeg', 'jpg'],
      ['image/gif', 'gif'],
      ['image/webp', 'webp'],
      ['image/svg+xml', 'svg'],
      ['audio/mpeg', 'mp3'],
      ['video/mp4', 'mp4'],
    ];
    for (const [type, extension] of types) expect(fileName(ID, type), type).toBe(`746fc6af8233d0c8.${extension}`);
  });

  it('ignores the type\'s parameters and the spaces around it', () => {
    expect(fileName(ID, 'text/plain; charset=utf-8')).toBe('746fc6af8233d0c8.txt');
    expect(fileName(ID, ' application/json ;x=1')).toBe('746fc6af8233d0c8.json');
  });

  it('is .bin for any other type, or none', () => {
    expect(fileName(ID, 'application/octet-stream')).toBe('746fc6af8233d0c8.bin');
    expect(fileName(ID, 'application/x-sh')).toBe('746fc6af8233d0c8.bin');
    expect(fileName(ID, undefined)).toBe('746fc6af8233d0c8.bin');
    expect(fileName(ID, '')).toBe('746fc6af8233d0c8.bin');
    expect(fileName('short', 'text/plain')).toBe('short.txt');
    // A worker's type is any text: one named like an object's own property is no type either.
    for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) expect(fileName(ID, type), type).toBe('746fc6af8233d0c8.bin');
  });
});

describe('the line under the attachments', () => {
  it('says there are none, or how many are shown and whether more are to read', () => {
    expect(attachmentsNote(0, false)).toBe('No attachments.');
    expect(attachmentsNote(1, false)).toBe('1 attachment.');
    expect(attachmentsNote(3, false)).toBe('3 attachments.');
    expect(attachmentsNote(100, true)).toBe('100 attachments shown; more below.');
  });
});
