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
            Their options come after the verb.

            Examples:
              genidctl qemu snapshot base \\
                --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram
              genidctl qemu revert base \\
                --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram
              genidctl qemu status --json \\
                --qmp /run/vm1/qmp.sock --pid "$(cat /run/vm1/qemu.pid)"
              genidctl history --vm web1
              genidctl status --json
              genidctl wait-ready web1 --timeout 30
              genidctl libvirt enable db1
            """,
        subcommands: [StatusCommand.self, HistoryCommand.self, WaitReadyCommand.self, RotateCommand.self,
                      RevertCommand.self, ReconcileCommand.self, NotifyCommand.self, LibvirtCommand.self,
                      QEMUCommand.self]
    )
}
