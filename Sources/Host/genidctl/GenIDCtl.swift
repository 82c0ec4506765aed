import ArgumentParser

@main
struct GenIDCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genidctl",
        abstract: "Give VMs a fresh VM Generation ID at every snapshot restore, and keep the record.",
        discussion: """
            A VM restored from a snapshot must see a new VMGENID value, or the
            software inside it replays random numbers, UUIDs and keys. QEMU
            cannot change the value of a running VM; genidctl does it by
            owning the 16-byte value in guest memory: it pauses the VM, loads
            the state, writes a value never given before (recorded first in
            the ledger), verifies it, and resumes.

            Under libvirt, genidd guards every domain; status, history, rotate,
            revert and wait-ready ask it through its control socket.

            The 'qemu' verbs talk to one QEMU directly through its QMP socket
            and reach guest RAM through the shared RAM file (-object
            memory-backend-file,share=on,mem-path=FILE) or /proc/PID/mem.

            Examples:
              genidctl qemu --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram snapshot base
              genidctl qemu --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram revert base
              genidctl qemu --qmp /run/vm1/qmp.sock --pid 1234 status --json
              genidctl history --vm vm1
              genidctl status --json
              genidctl wait-ready web1 --timeout 30
              genidctl libvirt enable web1
            """,
        subcommands: [StatusCommand.self, HistoryCommand.self, WaitReadyCommand.self, RotateCommand.self,
                      RevertCommand.self, ReconcileCommand.self, NotifyCommand.self, LibvirtCommand.self,
                      QEMUCommand.self]
    )
}
