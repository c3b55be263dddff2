import { judgedTarget, TargetRefused } from './target.js';

const refused = (target: string, host = 'public.svc') => {
  try {
    judgedTarget(target, host);
    return 'passed';
  } catch (err) {
    return err instanceof TargetRefused ? `400 ${err.message}` : String(err);
  }
};

describe('the judged request target', () => {
  it('passes targets already in normal form, unchanged', () => {
    for (const t of ['/', '/public/a', '/public/a/', '/public/a?x=../y&z=%2F', '/p%20q/%C3%A9', '/a.b/..c/d..', '*']) expect(judgedTarget(t, 'public.svc')).toBe(t);
  });

  it('refuses what servers read as another path: dot segments, encoded unreserved characters and separators, empty segments', () => {
    expect(refused('/public/../admin')).toBe('400 request target with a dot segment');
    expect(refused('/public/./a')).toBe('400 request target with a dot segment');
    expect(refused('/public/%2e%2e/admin')).toBe('400 request target with a percent-encoded unreserved character (%2e)');
    expect(refused('/public/%61dmin')).toBe('400 request target with a percent-encoded unreserved character (%61)');
    expect(refused('/public%2F..%2Fadmin')).toBe('400 request target with an encoded path separator (%2F)');
    expect(refused('/public/%5cadmin')).toBe('400 request target with an encoded path separator (%5c)');
    expect(refused('/public\\..\\admin')).toBe('400 request target with a backslash (a separator to some servers)');
    expect(refused('//admin')).toBe('400 request target with an empty segment (//)');
    expect(refused('/public//admin')).toBe('400 request target with an empty segment (//)');
    expect(refused('/public/%zz')).toBe('400 request target with malformed percent-encoding');
    expect(refused('/public/a#frag')).toBe('400 a fragment in the request target');
  });

  it('judges an absolute-form target by its path, only when its authority is the Host header', () => {
    expect(judgedTarget('http://Public.svc/public/a?b=1', 'public.svc')).toBe('/public/a?b=1');
    expect(judgedTarget('http://public.svc', 'public.svc')).toBe('/');
    expect(refused('http://admin.svc/', 'public.svc')).toBe('400 an absolute-form target whose authority is not the Host header');
    expect(refused('http://public.svc/public/../admin')).toBe('400 request target with a dot segment');
    expect(refused('ftp://public.svc/')).toBe('400 invalid request target');
  });
});
