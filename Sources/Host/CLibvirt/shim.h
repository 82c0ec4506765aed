// Everything Swift needs from libvirt 9.0 (libvirt-dev): the public API,
// the QEMU-specific API, and small inline wrappers for what Swift cannot
// import (function-like macros).
#ifndef CLIBVIRT_SHIM_H
#define CLIBVIRT_SHIM_H

#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

// VIR_DOMAIN_EVENT_CALLBACK() is a function-like cast macro, so Swift cannot
// see it: register the typed lifecycle callback through this wrapper instead.
// Returns the callback id (>= 0) or -1 with the error in virGetLastError().
static inline int clibvirt_register_lifecycle_callback(
    virConnectPtr conn, virConnectDomainEventCallback callback,
    void *opaque, virFreeCallback freecb)
{
    return virConnectDomainEventRegisterAny(
        conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(callback), opaque, freecb);
}

// The same for VIR_DOMAIN_EVENT_ID_REBOOT (a guest reset), whose callback
// has the generic signature.
static inline int clibvirt_register_reboot_callback(
    virConnectPtr conn, virConnectDomainEventGenericCallback callback,
    void *opaque, virFreeCallback freecb)
{
    return virConnectDomainEventRegisterAny(
        conn, NULL, VIR_DOMAIN_EVENT_ID_REBOOT,
        VIR_DOMAIN_EVENT_CALLBACK(callback), opaque, freecb);
}

#endif
