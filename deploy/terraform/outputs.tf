output "vm_id" {
  value = azurerm_linux_virtual_machine.tee.virtual_machine_id
}

output "private_ip" {
  value = azurerm_network_interface.vm.private_ip_address
}

output "ssh_host" {
  description = "For DOCKER_HOST=ssh://<admin>@<this> when admin_ssh_cidr is set"
  value       = var.admin_ssh_cidr == "" ? null : azurerm_public_ip.vm[0].ip_address
}

output "outbound_ip" {
  value = azurerm_public_ip.nat.ip_address
}
