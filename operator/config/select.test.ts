import { selectConfig, type DatapathConfigLike } from './select.js';

const cfg = (name: string, nodeSelector?: Record<string, string>, priority?: number): DatapathConfigLike => ({ metadata: { name }, spec: { nodeSelector, priority } });

describe('selectConfig', () => {
  const base = cfg('default');
  const gpu = cfg('gpu', { pool: 'gpu' });
  const gpuBig = cfg('gpu-big', { pool: 'gpu', size: 'big' }, 10);

  it('falls back to the config without a selector', () => {
    expect(selectConfig({ pool: 'web' }, [base, gpu])).toEqual({ config: base });
  });

  it('prefers a matching node-group config over the catch-all at equal priority', () => {
    expect(selectConfig({ pool: 'gpu' }, [base, gpu])).toEqual({ config: gpu });
  });

  it('lets priority decide between matching node-group configs', () => {
    expect(selectConfig({ pool: 'gpu', size: 'big' }, [base, gpu, gpuBig])).toEqual({ config: gpuBig });
  });

  it('reports a tie instead of guessing', () => {
    const other = cfg('gpu-2', { pool: 'gpu' });
    expect(selectConfig({ pool: 'gpu' }, [base, gpu, other])).toEqual({
      error: 'DatapathConfigs gpu, gpu-2 all match with priority 0; give one a higher spec.priority',
    });
  });

  it('says when nothing applies', () => {
    expect(selectConfig({}, [gpu])).toEqual({ none: true });
  });
});
