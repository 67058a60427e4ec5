// Package pkcs11x adds to github.com/miekg/pkcs11 the one call it cannot make:
// C_CreateObject with a nested attribute template (CKF_ARRAY_ATTRIBUTE), such as
// CKA_UNWRAP_TEMPLATE. miekg/pkcs11 flattens every attribute value to bytes, so a
// value that is itself an array of CK_ATTRIBUTE (holding pointers) cannot pass
// through it. Everything else stays with miekg/pkcs11.
package pkcs11x

/*
#cgo pkg-config: p11-kit-1
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

// open_function_list finds the function list of a module that the process has
// already loaded (RTLD_NOLOAD): the calls then reach the same initialised
// library state, sessions and logins as miekg/pkcs11's.
static CK_RV open_function_list(const char *path, void **lib, CK_FUNCTION_LIST_PTR *fl) {
	CK_C_GetFunctionList get;
	*lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (*lib == NULL) return CKR_CRYPTOKI_NOT_INITIALIZED;
	get = (CK_C_GetFunctionList)dlsym(*lib, "C_GetFunctionList");
	if (get == NULL) { dlclose(*lib); *lib = NULL; return CKR_FUNCTION_NOT_SUPPORTED; }
	return get(fl);
}

static void close_lib(void *lib) { if (lib != NULL) dlclose(lib); }

static CK_RV create_object(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR h) {
	return fl->C_CreateObject(s, t, n, h);
}

// set_attribute fills slot i of a C-allocated template.
static void set_attribute(CK_ATTRIBUTE_PTR t, CK_ULONG i, CK_ATTRIBUTE_TYPE typ, void *v, CK_ULONG n) {
	t[i].type = typ;
	t[i].pValue = v;
	t[i].ulValueLen = n;
}

static CK_ULONG attribute_size(void) { return sizeof(CK_ATTRIBUTE); }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/miekg/pkcs11"
)

// Nested is an attribute whose value is a template of attributes, such as
// CKA_UNWRAP_TEMPLATE or CKA_WRAP_TEMPLATE.
type Nested struct {
	Type     uint
	Template []*pkcs11.Attribute
}

// Module is a handle on the function list of a PKCS#11 library that
// miekg/pkcs11 has already loaded and initialised.
type Module struct {
	lib unsafe.Pointer
	fl  C.CK_FUNCTION_LIST_PTR
}

// Open finds the function list of the library at path. The library must
// already be loaded in this process (pkcs11.New); Open does not load it.
func Open(path string) (*Module, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	m := &Module{}
	if rv := C.open_function_list(cpath, &m.lib, &m.fl); rv != C.CKR_OK {
		return nil, fmt.Errorf("pkcs11x: function list of %s: %w", path, pkcs11.Error(rv))
	}
	return m, nil
}

// Close releases the reference Open took on the library.
func (m *Module) Close() error {
	if m == nil || m.lib == nil {
		return nil
	}
	C.close_lib(m.lib)
	m.lib, m.fl = nil, nil
	return nil
}

// CreateObject is C_CreateObject with flat attributes and nested templates.
// Errors are pkcs11.Error values, as miekg/pkcs11 returns them.
func (m *Module) CreateObject(sh pkcs11.SessionHandle, attrs []*pkcs11.Attribute, nested ...Nested) (pkcs11.ObjectHandle, error) {
	if m == nil || m.fl == nil {
		return 0, errors.New("pkcs11x: module closed")
	}
	var mem arena
	defer mem.free()
	tmpl := mem.template(len(attrs) + len(nested))
	for i, a := range attrs {
		mem.set(tmpl, i, a)
	}
	for j, n := range nested {
		inner := mem.template(len(n.Template))
		for i, a := range n.Template {
			mem.set(inner, i, a)
		}
		size := C.attribute_size() * C.CK_ULONG(len(n.Template))
		C.set_attribute(tmpl, C.CK_ULONG(len(attrs)+j), C.CK_ATTRIBUTE_TYPE(n.Type), unsafe.Pointer(inner), size)
	}
	var h C.CK_OBJECT_HANDLE
	rv := C.create_object(m.fl, C.CK_SESSION_HANDLE(sh), tmpl, C.CK_ULONG(len(attrs)+len(nested)), &h)
	if rv != C.CKR_OK {
		return 0, pkcs11.Error(rv)
	}
	return pkcs11.ObjectHandle(h), nil
}

// arena holds the C memory of one call: cgo forbids handing C a Go pointer to
// memory that itself holds Go pointers, which a nested template would be.
type arena []unsafe.Pointer

func (a *arena) alloc(n C.size_t) unsafe.Pointer {
	if n == 0 {
		n = 1
	}
	p := C.calloc(1, n)
	*a = append(*a, p)
	return p
}

func (a *arena) template(n int) C.CK_ATTRIBUTE_PTR {
	return C.CK_ATTRIBUTE_PTR(a.alloc(C.size_t(C.attribute_size()) * C.size_t(n)))
}

func (a *arena) set(t C.CK_ATTRIBUTE_PTR, i int, attr *pkcs11.Attribute) {
	var v unsafe.Pointer
	if len(attr.Value) > 0 {
		v = a.alloc(C.size_t(len(attr.Value)))
		C.memcpy(v, unsafe.Pointer(&attr.Value[0]), C.size_t(len(attr.Value)))
	}
	C.set_attribute(t, C.CK_ULONG(i), C.CK_ATTRIBUTE_TYPE(attr.Type), v, C.CK_ULONG(len(attr.Value)))
}

func (a *arena) free() {
	for _, p := range *a {
		C.free(p)
	}
	*a = nil
}
