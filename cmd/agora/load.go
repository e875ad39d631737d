package main

import "github.com/spf13/cobra"

func newLoadCommand() *cobra.Command {
	return &cobra.Command{Use: "load", Short: "Drive transfers through an economy", Hidden: true}
}
