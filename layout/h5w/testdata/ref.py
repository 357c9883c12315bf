import h5py, numpy as np, struct, sys
f = h5py.File('ref.h5','w', libver=('v108','v108'))
f.attrs['encoding-type']='anndata'
g = f.create_group('obs')
g.attrs['column-order']=np.array(['a','b'],dtype=object)
g.attrs['n']=np.int64(3)
g.attrs['x']=1.5
g.attrs['flag']=True
g.create_dataset('_index', data=np.array(['c1','c2','c3'],dtype=object), dtype=h5py.string_dtype())
g.create_dataset('b', data=np.array([True,False,True]))
g.create_dataset('i', data=np.arange(3,dtype=np.int32))
g.create_dataset('f', data=np.arange(3,dtype=np.float32))
g2=f.create_group('g2'); g2.create_dataset('s', data=np.array([b'ab',b'cd'],dtype='S2'))
g2.create_dataset('e', shape=(0,), dtype=np.float64)
g2.create_dataset('sc', data=np.float64(2.0))
g2.create_dataset('ss', data='hello', dtype=h5py.string_dtype())
dt = np.dtype([('x','<f8'),('y','<i4',(2,)),('z',h5py.string_dtype())])
g2.create_dataset('rec', data=np.array([(1.0,[1,2],'p'),(2.0,[3,4],'q')],dtype=dt))
g.attrs.create('ref', f['obs/i'].ref, dtype=h5py.ref_dtype)
f.close()
