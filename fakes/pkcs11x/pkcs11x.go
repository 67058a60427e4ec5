// Package pkcs11x adds to github.com/miekg/pkcs11 the one call it cannot make:
// C_CreateObject with a nested attribute template (CKF_ARRAY_ATTRIBUTE), such as
// CKA_UNWRAP_TEMPLATE. miekg/pkcs11 flattens every attribute value to bytes, so a
// value that is itself an array of CK_ATTRIBUTE (holding pointers) cannot pass
// through it. Everything else stays with miekg/pkcs11.
package pkcs11x

/*
#cgo pkg-config: p11-kit-1
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

// miekg_ctx is the C half of a miekg/pkcs11 Ctx: the library handle and the
// function list C_GetFunctionList gave it (pkcs11.go, struct ctx, v1.1.x).
struct miekg_ctx {
	void *handle;
	CK_FUNCTION_LIST_PTR sym;
};

static CK_FUNCTION_LIST_PTR function_list(void *ctx) { return ((struct miekg_ctx *)ctx)->sym; }

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
// miekg/pkcs11 has loaded.
type Module struct {
	fl C.CK_FUNCTION_LIST_PTR
}

// FromCtx returns the function list behind c, so that calls made here reach
// the very library state, sessions and logins of c's. Asking the library for
// its function list again would not do: a forwarding module such as
// p11-kit-client.so opens a new connection, with its own sessions and
// logins, for every C_GetFunctionList. miekg/pkcs11 does not export the list,
// so FromCtx reads it out of the Ctx, whose only field points to the C struct
// that holds it (see miekg_ctx above); the version is pinned in go.sum, and
// the tests fail if the layout ever changes.
func FromCtx(c *pkcs11.Ctx) (*Module, error) {
	if c == nil {
		return nil, errors.New("pkcs11x: nil pkcs11.Ctx")
	}
	inner := *(*unsafe.Pointer)(unsafe.Pointer(c))
	if inner == nil {
		return nil, errors.New("pkcs11x: pkcs11.Ctx destroyed")
	}
	fl := C.function_list(inner)
	if fl == nil {
		return nil, errors.New("pkcs11x: pkcs11.Ctx has no function list")
	}
	return &Module{fl: fl}, nil
}

// Close forgets the function list; the library stays with its Ctx.
func (m *Module) Close() error {
	if m != nil {
		m.fl = nil
	}
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
