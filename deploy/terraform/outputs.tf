output "vm_id" {
  value = azurerm_linux_virtual_machine.tee.virtual_machine_id
}

output "private_ip" {
  value = azurerm_network_interface.vm.private_ip_address
}

output "ssh_host" {
  description = "debug profile with admin_ssh_cidr only: the SSH address"
  value       = length(azurerm_public_ip.vm) == 0 ? null : azurerm_public_ip.vm[0].ip_address
}

output "outbound_ip" {
  value = azurerm_public_ip.nat.ip_address
}
